//! Helpers shared by the integration tests.

/// A tar like Docker's archive API returns for `/data`.
pub fn volume_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    b.append_data(&mut dir, "data/", &[][..]).unwrap();
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("data/{name}"), *data)
            .unwrap();
    }
    b.into_inner().unwrap()
}
