//! Upstream SASL AWS_MSK_IAM (the mechanism of aws-msk-iam-auth): the proxy sends one JSON
//! payload, a SigV4 query-string presign of `kafka-cluster:Connect` for the broker host it
//! dialled, and the broker answers with a JSON naming its version and request id.
//!
//! Credentials ([`credentials`]) are looked up once and cached (one entry) until five
//! minutes before they expire; every login and re-authentication signs a fresh payload.
//!
//! Never logged: secret keys, session tokens, signatures.

pub mod credentials;
pub mod http;
pub mod ini;
pub mod sigv4;
pub mod time;
pub mod xml;

use crate::config::AwsIamConfig;
use credentials::{process_env, Credentials, Env};
use std::sync::Mutex;

pub const MECHANISM: &str = "AWS_MSK_IAM";
/// The payload's validity, as aws-msk-iam-auth signs it.
pub const EXPIRES_SECS: u64 = 900;
/// Temporary credentials are renewed this long before they expire.
const REFRESH_BEFORE_SECS: u64 = 300;
/// The broker's answer is a small JSON; anything longer is refused unread.
const MAX_ANSWER: usize = 4096;
const USER_AGENT: &str = concat!("kafka-proxy/", env!("CARGO_PKG_VERSION"));

/// Startup check of `--sasl-aws-*`: the region is resolved now (a clear error if none).
pub fn check_config(config: &AwsIamConfig) -> Result<AwsIamConfig, String> {
    if !cfg!(feature = "aws-msk-iam") {
        return Err("AWS_MSK_IAM needs a build with the aws-msk-iam cargo feature".into());
    }
    let region = credentials::region(config, &process_env).ok_or(
        "--sasl-method AWS_MSK_IAM needs a region: --sasl-aws-region, AWS_REGION, \
         AWS_DEFAULT_REGION or the profile's region",
    )?;
    Ok(AwsIamConfig {
        region,
        ..config.clone()
    })
}

/// The one cached credential set, for the configuration it was found with.
static CACHE: Mutex<Option<(AwsIamConfig, Credentials)>> = Mutex::new(None);

/// Credentials for `config`: the cached ones while fresh, else looked up again (the lookup
/// holds the lock, so concurrent logins wait for one lookup, each call bounded by a deadline).
pub fn current(config: &AwsIamConfig) -> Result<Credentials, String> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((cached_for, creds)) = cache.as_ref() {
        let fresh = creds
            .expiration
            .map_or(true, |at| time::now_secs() + REFRESH_BEFORE_SECS < at);
        if cached_for == config && fresh {
            return Ok(creds.clone());
        }
    }
    let creds = lookup(config, &process_env)?;
    *cache = Some((config.clone(), creds.clone()));
    Ok(creds)
}

/// The whole chain: base credentials, the role on top, the identity check.
pub fn lookup(config: &AwsIamConfig, env: Env<'_>) -> Result<Credentials, String> {
    let region = config.region.as_str();
    let mut creds = credentials::base(config, region, env)?;
    if !config.role_arn.is_empty() {
        creds = credentials::assume_role(&creds, &config.role_arn, region, env)?;
    }
    log::info!(
        "AWS_MSK_IAM: using access key {} from {}",
        creds.access_key_id,
        creds.source
    );
    if config.identity_lookup {
        let arn = credentials::caller_identity(&creds, region, env).map_err(|e| {
            format!(
                "the credentials from {} failed GetCallerIdentity: {e}",
                creds.source
            )
        })?;
        log::info!("AWS_MSK_IAM: authenticated identity {arn}");
    }
    Ok(creds)
}

/// The JSON payload for `host` (the broker host name dialled), signed at `now_secs`.
pub fn payload(creds: &Credentials, region: &str, host: &str, now_secs: u64) -> Vec<u8> {
    let amz_date = time::amz_date(now_secs);
    let params = sigv4::presign_query(
        &sigv4::Presign {
            access_key_id: &creds.access_key_id,
            secret: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
            region,
            service: "kafka-cluster",
            host,
            amz_date: &amz_date,
            expires_secs: EXPIRES_SECS,
        },
        &[("Action", "kafka-cluster:Connect")],
    );
    let mut map = serde_json::Map::new();
    map.insert("version".into(), "2020_10_22".into());
    map.insert("host".into(), host.into());
    map.insert("user-agent".into(), USER_AGENT.into());
    for (k, v) in params {
        map.insert(k.to_ascii_lowercase(), v.into());
    }
    serde_json::Value::Object(map).to_string().into_bytes()
}

/// What to check when a broker refuses the login: the credentials' source (cached; a failed
/// lookup reports itself when the token is built).
pub fn credentials_hint(config: &AwsIamConfig) -> String {
    let source = current(config).map_or_else(|_| "their source".into(), |c| c.source);
    format!(
        "check the AWS credentials from {source} and that their IAM policy allows \
         kafka-cluster:Connect in region {}",
        config.region
    )
}

/// The first (only) token for a login to `host`.
pub fn first_token(config: &AwsIamConfig, host: &str) -> Result<Vec<u8>, String> {
    let creds = current(config)?;
    Ok(payload(&creds, &config.region, host, time::now_secs()))
}

/// Checks the broker's answer: a JSON object with `version` (and `request-id`).
pub fn check_answer(answer: &[u8]) -> Result<(), String> {
    if answer.len() > MAX_ANSWER {
        return Err(format!(
            "broker's AWS_MSK_IAM answer is {} bytes",
            answer.len()
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(answer)
        .map_err(|e| format!("broker's AWS_MSK_IAM answer is not JSON: {e}"))?;
    match value.get("version").and_then(|v| v.as_str()) {
        Some(_) => Ok(()),
        None => Err("broker's AWS_MSK_IAM answer has no version".into()),
    }
}

#[cfg(test)]
mod tests;
