//! Volume sizes from `GET /system/df`. bollard's model follows API 1.52+
//! (`VolumeUsage.Items`), which older engines (1.41: `Volumes[]`) do not send,
//! so this one call is made by hand (HTTP/1.0, read to EOF) and both shapes parsed.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Docker;

/// df walks every volume (and, before API 1.42, every image layer): give up
/// (sizes unknown) rather than stall a plan or an incident run.
const DF_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_BODY: u64 = 64 << 20;
/// The longest walk of one volume's directory for its size.
const WALK_TIMEOUT: Duration = Duration::from_millis(500);

impl Docker {
    /// Volume name → size in bytes, for the volumes the engine reports a size for.
    /// Empty on any failure: sizes are informative only.
    pub(crate) async fn volume_sizes(&self) -> HashMap<String, u64> {
        self.volume_sizes_within(DF_TIMEOUT).await
    }

    /// Volume sizes, waiting at most `limit` for the engine's `df`.
    pub async fn volume_sizes_within(&self, limit: Duration) -> HashMap<String, u64> {
        let path = format!("/v{}/system/df?type=volume", self.api_version());
        match tokio::time::timeout(limit, get_json(&self.endpoint, &path)).await {
            Ok(Ok(json)) => parse_sizes(&json),
            Ok(Err(e)) => {
                tracing::debug!("volume sizes unavailable: {e}");
                HashMap::new()
            }
            Err(_) => {
                tracing::debug!("volume sizes unavailable: /system/df took over {limit:?}");
                HashMap::new()
            }
        }
    }
}

impl Docker {
    /// The sizes of `names` that can be measured from here, each by walking
    /// its directory ([`Docker::volume_dir`]) for at most [`WALK_TIMEOUT`]:
    /// a plan's few volumes, not every volume on the host as df walks.
    pub(crate) async fn volume_sizes_of(&self, names: &[String]) -> HashMap<String, u64> {
        let sizes = futures_util::future::join_all(names.iter().map(|name| async move {
            let dir = self.volume_dir(name).await.ok()??;
            let deadline = std::time::Instant::now() + WALK_TIMEOUT;
            let size = tokio::task::spawn_blocking(move || {
                crate::repo::space::tree_bytes_until(&dir, Some(deadline))
            })
            .await
            .ok()??;
            Some((name.clone(), size))
        }))
        .await;
        sizes.into_iter().flatten().collect()
    }
}

pub(crate) fn parse_sizes(json: &serde_json::Value) -> HashMap<String, u64> {
    let items = json.get("Volumes").and_then(|v| v.as_array()).or_else(|| {
        json.get("VolumeUsage")
            .and_then(|u| u.get("Items"))
            .and_then(|v| v.as_array())
    });
    items
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("Name")?.as_str()?;
            let size = v.get("UsageData")?.get("Size")?.as_i64()?;
            // -1: the engine does not know.
            u64::try_from(size).ok().map(|s| (name.to_string(), s))
        })
        .collect()
}

async fn get_json(endpoint: &str, path: &str) -> Result<serde_json::Value, String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: lifeboat\r\n\r\n");
    let response = if let Some(socket) = endpoint.strip_prefix("unix://") {
        let s = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| e.to_string())?;
        exchange(s, &request).await?
    } else {
        let addr = endpoint
            .strip_prefix("tcp://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .ok_or_else(|| format!("unsupported endpoint {endpoint}"))?
            .trim_end_matches('/');
        let s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        exchange(s, &request).await?
    };
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("engine answered {status}"));
    }
    serde_json::from_slice(&response[split + 4..]).map_err(|e| e.to_string())
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
) -> Result<Vec<u8>, String> {
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.take(MAX_BODY)
        .read_to_end(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_old_and_new_df_shapes() {
        let old = serde_json::json!({"Volumes": [
            {"Name": "a", "UsageData": {"Size": 42, "RefCount": 1}},
            {"Name": "b", "UsageData": {"Size": -1, "RefCount": 0}}]});
        let new = serde_json::json!({"VolumeUsage": {"Items": [
            {"Name": "c", "UsageData": {"Size": 7, "RefCount": 1}}]}});
        assert_eq!(parse_sizes(&old), HashMap::from([("a".to_string(), 42)]));
        assert_eq!(parse_sizes(&new), HashMap::from([("c".to_string(), 7)]));
    }
}
