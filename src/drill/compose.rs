//! The drill's copy of a stack: the compose file as `compose config` prints
//! it, rewritten so that nothing in it can touch production — every service,
//! volume and network labelled with the drill, networks internal, no
//! published ports — or refused when it names something shared (a fixed
//! container name, an external or named volume or network, a writable bind
//! mount, the host's network). docs/architecture.md §8.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

/// Labels on everything a drill creates: what `drills gc` collects.
pub const LABEL_ID: &str = "lifeboat.drill.id";
pub const LABEL_NAME: &str = "lifeboat.drill.name";

/// The rewritten compose file and what it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolated {
    pub yaml: String,
    pub services: Vec<String>,
    /// Compose keys of the named volumes (Docker names them `<project>_<key>`).
    pub volumes: Vec<String>,
    /// Ports that were published in production and are not in the copy.
    pub dropped_ports: Vec<String>,
}

/// Rewrites `config` (the output of `compose config`) for project `project`
/// with `labels`. Err: every reason the copy could touch production.
pub fn isolate(
    config: &str,
    project: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Isolated, Vec<String>> {
    let mut doc: Value =
        serde_yaml::from_str(config).map_err(|e| vec![format!("compose config: {e}")])?;
    let root = doc
        .as_mapping_mut()
        .ok_or_else(|| vec!["compose config is not a mapping".to_string()])?;
    root.remove("name");
    let mut problems = Vec::new();
    let mut dropped_ports = Vec::new();
    let services = isolate_services(root, labels, &mut problems, &mut dropped_ports);
    let volumes = isolate_top(root, "volumes", project, labels, &mut problems);
    let mut networks = isolate_top(root, "networks", project, labels, &mut problems);
    if !networks.iter().any(|n| n == "default") {
        let nets = section(root, "networks");
        nets.insert("default".into(), Value::Mapping(network(labels)));
        networks.push("default".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let yaml = serde_yaml::to_string(&doc).map_err(|e| vec![e.to_string()])?;
    Ok(Isolated {
        yaml,
        services,
        volumes,
        dropped_ports,
    })
}

fn section<'a>(root: &'a mut Mapping, key: &str) -> &'a mut Mapping {
    if !root.get(key).is_some_and(Value::is_mapping) {
        root.insert(key.into(), Value::Mapping(Mapping::new()));
    }
    root.get_mut(key)
        .and_then(Value::as_mapping_mut)
        .expect("just made a mapping")
}

fn label_map(labels: &BTreeMap<String, String>) -> Value {
    Value::Mapping(
        labels
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
            .collect(),
    )
}

fn network(labels: &BTreeMap<String, String>) -> Mapping {
    let mut m = Mapping::new();
    m.insert("internal".into(), true.into());
    m.insert("labels".into(), label_map(labels));
    m
}

/// Adds `labels` to a `labels:` value written as a mapping or a `k=v` list.
fn add_labels(entry: &mut Mapping, labels: &BTreeMap<String, String>) {
    let mut merged = Mapping::new();
    match entry.get("labels") {
        Some(Value::Mapping(m)) => merged = m.clone(),
        Some(Value::Sequence(items)) => {
            for item in items.iter().filter_map(Value::as_str) {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                merged.insert(k.into(), v.into());
            }
        }
        _ => {}
    }
    for (k, v) in labels {
        merged.insert(k.as_str().into(), v.as_str().into());
    }
    entry.insert("labels".into(), Value::Mapping(merged));
}

fn isolate_services(
    root: &mut Mapping,
    labels: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
    dropped_ports: &mut Vec<String>,
) -> Vec<String> {
    let mut names = Vec::new();
    for (name, service) in section(root, "services").iter_mut() {
        let name = name.as_str().unwrap_or_default().to_string();
        let Some(s) = service.as_mapping_mut() else {
            continue;
        };
        if let Some(fixed) = s.get("container_name").and_then(Value::as_str) {
            problems.push(format!(
                "service `{name}` has the fixed container_name `{fixed}`: a copy would \
                 collide with production's container"
            ));
        }
        if let Some(mode) = s.get("network_mode").and_then(Value::as_str)
            && (mode == "host" || mode.starts_with("container:"))
        {
            problems.push(format!(
                "service `{name}` uses network_mode `{mode}`: a copy would share production's network"
            ));
        }
        if let Some(Value::Sequence(ports)) = s.remove("ports") {
            for p in ports {
                dropped_ports.push(format!("{name}: {}", port_text(&p)));
            }
        }
        for mount in s
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(bind) = writable_bind(mount) {
                problems.push(format!(
                    "service `{name}` mounts the host path `{bind}` writable: a copy would \
                     write into production's files (mount it `:ro`, or use a named volume)"
                ));
            }
        }
        add_labels(s, labels);
        names.push(name);
    }
    names
}

fn port_text(p: &Value) -> String {
    match p {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .replace('\n', ", "),
    }
}

/// The host path of a writable bind mount, in short (`/a:/b:rw`) or long syntax.
fn writable_bind(mount: &Value) -> Option<String> {
    match mount {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let host = parts.first()?;
            let is_path = host.starts_with('/') || host.starts_with('.') || host.starts_with('~');
            let read_only = parts.len() == 3 && parts[2].split(',').any(|o| o == "ro");
            (is_path && parts.len() >= 2 && !read_only).then(|| host.to_string())
        }
        Value::Mapping(m) => {
            let bind = m.get("type").and_then(Value::as_str) == Some("bind");
            let ro = m.get("read_only").and_then(Value::as_bool) == Some(true);
            (bind && !ro).then(|| {
                m.get("source")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string()
            })
        }
        _ => None,
    }
}

/// Labels the top-level `volumes:` or `networks:`; refuses shared ones.
fn isolate_top(
    root: &mut Mapping,
    key: &str,
    project: &str,
    labels: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let what = key.trim_end_matches('s');
    let mut names = Vec::new();
    let Some(Value::Mapping(entries)) = root.get_mut(key) else {
        return names;
    };
    for (name, entry) in entries.iter_mut() {
        let name = name.as_str().unwrap_or_default().to_string();
        if entry.is_null() {
            *entry = Value::Mapping(Mapping::new());
        }
        let Some(e) = entry.as_mapping_mut() else {
            continue;
        };
        let external = match e.get("external") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Mapping(_)) => true,
            _ => false,
        };
        let own_name = format!("{project}_{name}");
        let named = e
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| *n != own_name)
            .map(str::to_string);
        if external {
            problems.push(format!(
                "{what} `{name}` is external: a copy would use production's {what}"
            ));
        } else if let Some(n) = named {
            problems.push(format!(
                "{what} `{name}` has the fixed name `{n}`: a copy would use production's {what}"
            ));
        }
        e.remove("name");
        if key == "networks" {
            e.insert("internal".into(), true.into());
        }
        add_labels(e, labels);
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        BTreeMap::from([(LABEL_ID.to_string(), "d1".to_string())])
    }

    #[test]
    fn the_copy_is_labelled_internal_and_publishes_nothing() {
        let config = "services:\n  web:\n    image: x\n    ports: ['8080:80']\n    labels: [a=b]\n    volumes: [data:/d:rw, './conf:/etc/c:ro']\nversion: '2.4'\nvolumes:\n  data: {}\nnetworks:\n  back: null\n";
        let got = isolate(config, "p", &labels()).unwrap();
        assert_eq!(got.services, ["web"]);
        assert_eq!(got.volumes, ["data"]);
        assert_eq!(got.dropped_ports, ["web: 8080:80"]);
        let doc: Value = serde_yaml::from_str(&got.yaml).unwrap();
        assert_eq!(doc["services"]["web"]["labels"]["a"], "b");
        assert_eq!(doc["services"]["web"]["labels"][LABEL_ID], "d1");
        assert!(doc["services"]["web"].get("ports").is_none());
        assert_eq!(doc["volumes"]["data"]["labels"][LABEL_ID], "d1");
        assert_eq!(doc["networks"]["back"]["internal"], true);
        assert_eq!(doc["networks"]["default"]["internal"], true);
        assert_eq!(doc["networks"]["default"]["labels"][LABEL_ID], "d1");
    }

    #[test]
    fn anything_shared_with_production_is_refused() {
        let config = "services:\n  a:\n    image: x\n    container_name: prod-a\n    network_mode: host\n    volumes: ['/srv/data:/data', {type: bind, source: /etc/x, target: /x}]\nvolumes:\n  ext: {external: true}\n  named: {name: prod_named}\n  mine: {name: p_mine}\n";
        let problems = isolate(config, "p", &labels()).unwrap_err();
        assert_eq!(
            problems,
            [
                "service `a` has the fixed container_name `prod-a`: a copy would collide with production's container",
                "service `a` uses network_mode `host`: a copy would share production's network",
                "service `a` mounts the host path `/srv/data` writable: a copy would write into production's files (mount it `:ro`, or use a named volume)",
                "service `a` mounts the host path `/etc/x` writable: a copy would write into production's files (mount it `:ro`, or use a named volume)",
                "volume `ext` is external: a copy would use production's volume",
                "volume `named` has the fixed name `prod_named`: a copy would use production's volume",
            ]
        );
    }
}
