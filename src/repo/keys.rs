//! age encryption of stored objects: who new backups are encrypted to, and
//! which keys decrypt. The object on disk (and off-site) is
//! `zstd | age`; its sha256 covers the encrypted bytes, so a repository can be
//! verified without any key.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::SecretString;

/// Where the keys come from (flags, environment, config file). Plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySettings {
    /// `age1…` public keys new backups are encrypted to.
    pub recipients: Vec<String>,
    /// A file of `age1…` public keys, one per line (`#` comments).
    pub recipients_file: Option<PathBuf>,
    /// An age identity file (`AGE-SECRET-KEY-1…`): decrypts, and when no
    /// recipients are given new backups are encrypted to its public key.
    pub identity_file: Option<PathBuf>,
    /// A file whose first line is the passphrase (age's scrypt mode): both
    /// encrypts and decrypts.
    pub passphrase_file: Option<PathBuf>,
}

impl KeySettings {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

enum EncryptTo {
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

/// Loaded keys. The default encrypts nothing and decrypts nothing.
#[derive(Default)]
pub struct Keys {
    encrypt_to: Option<EncryptTo>,
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Where the decrypting keys came from, for error messages.
    identity_source: Option<String>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("encrypts", &self.encryption())
            .field("identities", &self.identities.len())
            .finish()
    }
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn recipient(text: &str, place: &str) -> Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(text)
        .map_err(|e| format!("{place}: `{text}` is not an age public key (age1…): {e}"))
}

impl Keys {
    pub fn load(s: &KeySettings) -> Result<Self, String> {
        let mut keys = Keys::default();
        let mut recipients = Vec::new();
        for r in &s.recipients {
            recipients.push(recipient(r.trim(), "age recipient")?);
        }
        if let Some(path) = &s.recipients_file {
            let text = read(path, "age recipients file")?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let place = format!("{}:{}", path.display(), n + 1);
                recipients.push(recipient(line, &place)?);
            }
            if recipients.is_empty() {
                return Err(format!(
                    "age recipients file {} holds no public key",
                    path.display()
                ));
            }
        }
        if let Some(path) = &s.identity_file {
            let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
                .map_err(|e| format!("age identity file {}: {e}", path.display()))?;
            if recipients.is_empty() && s.passphrase_file.is_none() {
                recipients.extend(x25519_publics(path)?);
            }
            keys.identities = file
                .into_identities()
                .map_err(|e| format!("age identity file {}: {e}", path.display()))?;
            if keys.identities.is_empty() {
                return Err(format!(
                    "age identity file {} holds no key (AGE-SECRET-KEY-1…)",
                    path.display()
                ));
            }
            keys.identity_source = Some(format!("identity file {}", path.display()));
        }
        if let Some(path) = &s.passphrase_file {
            if !recipients.is_empty() {
                return Err(
                    "age cannot encrypt to a passphrase and to public keys at once: \
                     give either a passphrase file or recipients/an identity"
                        .into(),
                );
            }
            let text = read(path, "age passphrase file")?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            if line.is_empty() {
                return Err(format!(
                    "age passphrase file {}: the first line is empty",
                    path.display()
                ));
            }
            let passphrase = SecretString::from(line.to_string());
            keys.identities
                .push(Box::new(age::scrypt::Identity::new(passphrase.clone())));
            keys.identity_source = Some(format!("passphrase file {}", path.display()));
            keys.encrypt_to = Some(EncryptTo::Passphrase(passphrase));
        } else if !recipients.is_empty() {
            keys.encrypt_to = Some(EncryptTo::Recipients(recipients));
        }
        Ok(keys)
    }

    /// What new backups are encrypted to, as recorded in manifests:
    /// the public keys, or `passphrase`. `None`: not encrypted.
    pub fn encryption(&self) -> Option<Vec<String>> {
        match &self.encrypt_to {
            None => None,
            Some(EncryptTo::Passphrase(_)) => Some(vec!["passphrase".into()]),
            Some(EncryptTo::Recipients(r)) => Some(r.iter().map(ToString::to_string).collect()),
        }
    }

    /// Wraps `output` so what is written to it is encrypted (when keys say so).
    pub(super) fn encrypt<W: Write>(&self, output: W) -> io::Result<Sealed<W>> {
        let encryptor = match &self.encrypt_to {
            None => return Ok(Sealed::Plain(output)),
            Some(EncryptTo::Passphrase(p)) => age::Encryptor::with_user_passphrase(p.clone()),
            Some(EncryptTo::Recipients(r)) => {
                age::Encryptor::with_recipients(r.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(io::Error::other)?
            }
        };
        Ok(Sealed::Age(encryptor.wrap_output(output)?))
    }

    /// The plaintext of an age object read from `input`, or why not.
    pub(super) fn decrypt<R: BufRead>(
        &self,
        input: R,
        encrypted_to: &[String],
    ) -> Result<age::stream::StreamReader<R>, Undecryptable> {
        let to = if encrypted_to.is_empty() {
            String::new()
        } else {
            format!(" (it is encrypted to {})", encrypted_to.join(", "))
        };
        let Some(source) = &self.identity_source else {
            return Err(Undecryptable::NoKey(format!(
                "it is encrypted with age{to} and no key was given: set LIFEBOAT_AGE_IDENTITY \
                 (or --age-identity FILE), or LIFEBOAT_AGE_PASSPHRASE_FILE for a passphrase"
            )));
        };
        let decryptor = age::Decryptor::new_buffered(input)
            .map_err(|e| Undecryptable::Damaged(format!("age: {e}")))?;
        decryptor
            .decrypt(
                self.identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            )
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
                    Undecryptable::NoKey(format!(
                        "the age key in the {source} does not decrypt it{to}"
                    ))
                }
                e => Undecryptable::Damaged(format!("age ({source}): {e}")),
            })
    }
}

/// Why an age object cannot be decrypted.
pub(super) enum Undecryptable {
    /// No key given opens it: a fact about the keys, not the object.
    NoKey(String),
    /// Its age header is malformed.
    Damaged(String),
}

/// The public keys of the X25519 identities in an identity file.
fn x25519_publics(path: &Path) -> Result<Vec<age::x25519::Recipient>, String> {
    let text = read(path, "age identity file")?;
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .map(|l| {
            age::x25519::Identity::from_str(l)
                .map(|i| i.to_public())
                .map_err(|e| format!("age identity file {}: {e}", path.display()))
        })
        .collect()
}

/// A writer that encrypts, or passes through.
pub(super) enum Sealed<W: Write> {
    Plain(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Sealed<W> {
    /// Writes the last age chunk; returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::Plain(w) => Ok(w),
            Self::Age(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Sealed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Age(w) => w.flush(),
        }
    }
}

/// Reads what [`Keys::decrypt`] opened, or a plain object.
pub(super) enum Opened<R: BufRead> {
    Plain(R),
    Age(age::stream::StreamReader<R>),
}

impl<R: BufRead> Read for Opened<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Age(r) => r.read(buf),
        }
    }
}
