//! RFC 3161 time-stamp requests and the checks on their replies.
//!
//! A reply is accepted only if the authority granted it, its token is CMS `SignedData`
//! over a `TSTInfo` that names our SHA-256 and nonce, the signed attributes carry the
//! digest of that `TSTInfo`, the signature verifies with the signer's certificate, and that
//! certificate chains to a configured trust anchor and is meant for time-stamping (extended
//! key usage `id-kp-timeStamping`) at the time it stamped.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use rand::RngCore;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use sha2::Digest;
use spki::AlgorithmIdentifier;
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8), as the bytes of its DER value.
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// A request for a token over a SHA-256, and the nonce its reply must carry.
pub struct TimestampQuery {
    pub der: Vec<u8>,
    nonce: [u8; 8],
    sha256: [u8; 32],
}

/// A verified reply: the whole `TimeStampResp` as the authority sent it (what `openssl ts
/// -verify -in` reads) and the time it attests.
#[derive(Debug, Clone)]
pub struct VerifiedTimestamp {
    pub reply: Vec<u8>,
    /// `genTime`, in seconds since the Unix epoch.
    pub gen_time_secs: u64,
}

/// Builds a request for a token over `sha256`, asking for the signer's certificate.
pub fn query(sha256: [u8; 32]) -> TimestampQuery {
    let mut nonce = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut nonce);
    // Positive and minimally encoded as an INTEGER: the first byte is 0x01..=0x7f.
    nonce[0] = nonce[0] % 0x7f + 1;
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier { oid: SHA256, parameters: None },
            hashed_message: OctetString::new(sha256.to_vec()).expect("32 bytes fit an OCTET STRING"),
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce).expect("a minimal positive INTEGER")),
        cert_req: true,
        extensions: None,
    };
    TimestampQuery { der: request.to_der().expect("a request encodes"), nonce, sha256 }
}

impl VerifiedTimestamp {
    /// The time the token attests.
    pub fn gen_time(&self) -> purser_domain::Timestamp {
        purser_domain::Timestamp::from_millis(
            i64::try_from(self.gen_time_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        )
    }
}

impl TimestampQuery {
    /// Checks `reply` against this query and the trust anchors; `Err` says why it is refused.
    pub fn verify(&self, reply: &[u8], anchors: &[TrustAnchor<'_>]) -> Result<VerifiedTimestamp, String> {
        let response = TimeStampResp::from_der(reply).map_err(|e| format!("the reply is not a TimeStampResp: {e}"))?;
        let status = response.status.status as u8;
        if status > 1 {
            return Err(format!("the authority refused the request (PKIStatus {status})"));
        }
        let token = response.time_stamp_token.ok_or("the reply has no token")?;
        let tst = verify_token(&token, anchors)?;
        let imprint = &tst.info.message_imprint;
        if imprint.hash_algorithm.oid != SHA256 || imprint.hashed_message.as_bytes() != self.sha256 {
            return Err("the token is over another hash".into());
        }
        if tst.info.nonce.as_ref().map(Int::as_bytes) != Some(&self.nonce[..]) {
            return Err("the token does not carry the request's nonce".into());
        }
        Ok(VerifiedTimestamp { reply: reply.to_vec(), gen_time_secs: tst.gen_time_secs })
    }
}

struct CheckedToken {
    info: TstInfo,
    gen_time_secs: u64,
}

fn verify_token(token: &ContentInfo, anchors: &[TrustAnchor<'_>]) -> Result<CheckedToken, String> {
    if token.content_type != SIGNED_DATA {
        return Err("the token is not CMS SignedData".into());
    }
    let signed: SignedData = token.content.decode_as().map_err(|e| format!("the token's SignedData: {e}"))?;
    let content = &signed.encap_content_info;
    if content.econtent_type != TST_INFO {
        return Err("the token does not hold a TSTInfo".into());
    }
    let tst_der = content
        .econtent
        .as_ref()
        .ok_or("the token's TSTInfo is missing")?
        .decode_as::<OctetString>()
        .map_err(|e| format!("the token's content: {e}"))?
        .into_bytes();
    let info = TstInfo::from_der(&tst_der).map_err(|e| format!("the token's TSTInfo: {e}"))?;
    let gen_time_secs = info.gen_time.to_unix_duration().as_secs();

    let [signer] = signed.signer_infos.0.as_slice() else {
        return Err("the token must have exactly one signer".into());
    };
    let certificates: Vec<&Certificate> = signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(cert) => Some(cert),
                    CertificateChoices::Other(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let signer_cert = certificates
        .iter()
        .find(|cert| is_signer(cert, &signer.sid))
        .ok_or("the token does not include its signer's certificate")?;
    let signed_attrs = check_signed_attributes(signer, &tst_der)?;

    let encode = |cert: &Certificate| cert.to_der().map(CertificateDer::from).map_err(|e| e.to_string());
    let end_entity_der = encode(signer_cert)?;
    let end_entity = EndEntityCert::try_from(&end_entity_der).map_err(|e| format!("the signer's certificate: {e}"))?;
    let intermediates = certificates
        .iter()
        .filter(|c| !std::ptr::eq(**c, *signer_cert))
        .map(|c| encode(c))
        .collect::<Result<Vec<_>, _>>()?;
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(gen_time_secs)),
            KeyUsage::required(TIME_STAMPING),
            None,
            None,
        )
        .map_err(|e| format!("the signer's certificate is not trusted for time-stamping: {e}"))?;
    let signature = signer.signature.as_bytes();
    let verified = signature_algorithms(signer.digest_alg.oid)?
        .iter()
        .any(|alg| end_entity.verify_signature(*alg, &signed_attrs, signature).is_ok());
    if !verified {
        return Err("the token's signature does not verify".into());
    }
    Ok(CheckedToken { info, gen_time_secs })
}

/// The signed attributes as signed (a DER `SET OF`), once their content type is TSTInfo and
/// their message digest is that of `content`.
fn check_signed_attributes(signer: &SignerInfo, content: &[u8]) -> Result<Vec<u8>, String> {
    let attributes = signer.signed_attrs.as_ref().ok_or("the token has no signed attributes")?;
    let value_of = |oid: ObjectIdentifier| -> Result<&Any, String> {
        let attribute = attributes.iter().find(|a| a.oid == oid).ok_or("a signed attribute is missing")?;
        match attribute.values.as_slice() {
            [value] => Ok(value),
            _ => Err("a signed attribute must have one value".into()),
        }
    };
    let content_type: ObjectIdentifier =
        value_of(CONTENT_TYPE)?.decode_as().map_err(|e| format!("the content-type attribute: {e}"))?;
    if content_type != TST_INFO {
        return Err("the signed content type is not TSTInfo".into());
    }
    let digest: OctetString =
        value_of(MESSAGE_DIGEST)?.decode_as().map_err(|e| format!("the message-digest attribute: {e}"))?;
    if digest.as_bytes() != hash(signer.digest_alg.oid, content)?.as_slice() {
        return Err("the signed digest does not match the token's content".into());
    }
    attributes.to_der().map_err(|e| e.to_string())
}

fn hash(algorithm: ObjectIdentifier, bytes: &[u8]) -> Result<Vec<u8>, String> {
    Ok(match algorithm {
        SHA256 => sha2::Sha256::digest(bytes).to_vec(),
        SHA384 => sha2::Sha384::digest(bytes).to_vec(),
        SHA512 => sha2::Sha512::digest(bytes).to_vec(),
        other => return Err(format!("the digest algorithm {other} is not supported")),
    })
}

/// The signature algorithms a signer using `digest` may have used; the certificate's key
/// picks among them (an algorithm for another kind of key does not verify).
fn signature_algorithms(
    digest: ObjectIdentifier,
) -> Result<Vec<&'static dyn rustls_pki_types::SignatureVerificationAlgorithm>, String> {
    use webpki::ring::*;
    Ok(match digest {
        SHA256 => vec![RSA_PKCS1_2048_8192_SHA256, ECDSA_P256_SHA256, ECDSA_P384_SHA256, ED25519],
        SHA384 => vec![RSA_PKCS1_2048_8192_SHA384, ECDSA_P256_SHA384, ECDSA_P384_SHA384],
        SHA512 => vec![RSA_PKCS1_2048_8192_SHA512],
        other => return Err(format!("the digest algorithm {other} is not supported")),
    })
}

fn is_signer(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => tbs.issuer == id.issuer && tbs.serial_number == id.serial_number,
        SignerIdentifier::SubjectKeyIdentifier(id) => tbs.extensions.iter().flatten().any(|ext| {
            ext.extn_id == SUBJECT_KEY_ID
                && OctetString::from_der(ext.extn_value.as_bytes()).is_ok_and(|key| key.as_bytes() == id.0.as_bytes())
        }),
    }
}

/// Reads trust anchors from PEM certificates.
pub fn trust_anchors(pem: &[u8]) -> Result<Vec<TrustAnchor<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut anchors = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
        let anchor =
            webpki::anchor_from_trusted_cert(&cert).map_err(|e| format!("not a usable CA certificate: {e}"))?;
        anchors.push(anchor.to_owned());
    }
    if anchors.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(anchors)
}
