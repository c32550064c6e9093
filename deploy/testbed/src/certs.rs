//! Test certificates made with `openssl` at test time: a throwaway CA and a server certificate it
//! signed for `127.0.0.1`, `localhost` and `trunk.test` (the testbed trunk's domain, which a TLS client
//! checks the certificate against).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, TestbedError};

/// The files of a test CA and the server certificate it signed, all PEM.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The CA certificate, for clients to trust.
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| TestbedError::Spawn {
            program: "openssl",
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestbedError::Openssl {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Writes `ca.pem`, `server.pem` and `server.key` (P-256, valid two days) into `dir`.
pub fn generate(dir: &Path) -> Result<TestCertificates> {
    const EC: [&str; 5] = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(EC);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ringback testbed CA",
    ]);
    openssl(dir, &ca)?;
    let mut csr = vec!["req"];
    csr.extend(EC);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=trunk.test",
    ]);
    openssl(dir, &csr)?;
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:trunk.test\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .map_err(|source| TestbedError::WriteFile { path: ext, source })?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    )?;
    Ok(TestCertificates {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_server_certificate_verifies_against_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let certs = generate(dir.path()).unwrap();
        let out = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&certs.ca)
            .arg(&certs.cert)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
