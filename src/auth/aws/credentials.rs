//! AWS credentials, found the way AWS SDKs find them: environment variables, the shared
//! config/credentials files (profile), web identity (STS AssumeRoleWithWebIdentity), the EC2
//! instance metadata service v2; then `--sasl-aws-role-arn` (STS AssumeRole) on top. Each
//! result names its source, for log lines.
//!
//! Never logged: secret keys, session tokens, web identity tokens, signatures.

use super::http::{call, redact};
use super::sigv4::{presign_query, uri_encode, Presign};
use super::{ini, time, xml};
use crate::config::AwsIamConfig;
use std::path::PathBuf;

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// Seconds since the epoch; `None` for long-lived keys.
    pub expiration: Option<u64>,
    /// Where they came from: "environment", "profile default", "web identity", ...
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials({} from {})",
            self.access_key_id, self.source
        )
    }
}

/// The environment, read through one function so tests can give their own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn profile_name(config: &AwsIamConfig, env: Env<'_>) -> String {
    if !config.profile.is_empty() {
        return config.profile.clone();
    }
    env("AWS_PROFILE").unwrap_or_else(|| "default".into())
}

fn home_file(env: Env<'_>, var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = env(var) {
        return Some(PathBuf::from(path));
    }
    env("HOME").map(|home| PathBuf::from(home).join(".aws").join(name))
}

/// The profile's section of a file, if the file and section exist.
fn profile_section(
    env: Env<'_>,
    config_file: bool,
    profile: &str,
) -> Option<Vec<(String, String)>> {
    let (var, name) = if config_file {
        ("AWS_CONFIG_FILE", "config")
    } else {
        ("AWS_SHARED_CREDENTIALS_FILE", "credentials")
    };
    let text = std::fs::read_to_string(home_file(env, var, name)?).ok()?;
    let section = if config_file && profile != "default" {
        format!("profile {profile}")
    } else {
        profile.to_string()
    };
    ini::section(&text, &section)
}

/// The region: the flag, AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`.
pub fn region(config: &AwsIamConfig, env: Env<'_>) -> Option<String> {
    if !config.region.is_empty() {
        return Some(config.region.clone());
    }
    if let Some(r) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return Some(r);
    }
    let profile = profile_name(config, env);
    let section = profile_section(env, true, &profile)?;
    ini::get(&section, "region").map(str::to_string)
}

/// The base credentials, before any role is assumed.
pub fn base(config: &AwsIamConfig, region: &str, env: Env<'_>) -> Result<Credentials, String> {
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
            expiration: None,
            source: "environment variables".into(),
        });
    }
    let profile = profile_name(config, env);
    for config_file in [false, true] {
        let Some(section) = profile_section(env, config_file, &profile) else {
            continue;
        };
        if let (Some(id), Some(secret)) = (
            ini::get(&section, "aws_access_key_id"),
            ini::get(&section, "aws_secret_access_key"),
        ) {
            return Ok(Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: ini::get(&section, "aws_session_token").map(str::to_string),
                expiration: None,
                source: format!("profile {profile}"),
            });
        }
    }
    if let (Some(file), Some(role)) = (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN")) {
        return web_identity(&file, &role, region, env);
    }
    if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(
            "no AWS credentials found: not in the environment, not in profile \
                    files, no web identity, and AWS_EC2_METADATA_DISABLED is set"
                .into(),
        );
    }
    imds(env).map_err(|e| {
        format!("no AWS credentials in the environment or profile {profile}, no web identity; {e}")
    })
}

/// The STS endpoint: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else the regional one.
pub fn sts_endpoint(region: &str, env: Env<'_>) -> String {
    env("AWS_ENDPOINT_URL_STS")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"))
}

/// `scheme://host[:port]` to `host[:port]`, the signed `host` header.
fn host_of(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn session_name(env: Env<'_>) -> String {
    env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| format!("kafka-proxy-{}", time::now_secs()))
}

fn web_identity(file: &str, role: &str, region: &str, env: Env<'_>) -> Result<Credentials, String> {
    let token = std::fs::read_to_string(file)
        .map_err(|e| format!("web identity token file {file}: {e}"))?;
    let endpoint = sts_endpoint(region, env);
    let url = format!(
        "{endpoint}/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}\
         &RoleSessionName={}&WebIdentityToken={}",
        uri_encode(role),
        uri_encode(&session_name(env)),
        uri_encode(token.trim())
    );
    sts_credentials(&url, "web identity")
}

/// STS AssumeRole, signed with `base`.
pub fn assume_role(
    base: &Credentials,
    role: &str,
    region: &str,
    env: Env<'_>,
) -> Result<Credentials, String> {
    let endpoint = sts_endpoint(region, env);
    let session = session_name(env);
    let params = [
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", session.as_str()),
    ];
    let url = signed_sts_url(base, &endpoint, region, &params);
    let mut creds = sts_credentials(&url, "role assumption")?;
    creds.source = format!("role {role} assumed with {} credentials", base.source);
    Ok(creds)
}

/// STS GetCallerIdentity: the ARN the credentials belong to.
pub fn caller_identity(creds: &Credentials, region: &str, env: Env<'_>) -> Result<String, String> {
    let endpoint = sts_endpoint(region, env);
    let params = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let url = signed_sts_url(creds, &endpoint, region, &params);
    let (status, body) = call("GET", &url, &[])?;
    if status != 200 {
        return Err(sts_error(&url, status, &body));
    }
    xml::text_of(&body, "Arn").ok_or_else(|| format!("{}: no Arn in the answer", redact(&url)))
}

fn signed_sts_url(
    creds: &Credentials,
    endpoint: &str,
    region: &str,
    params: &[(&str, &str)],
) -> String {
    let amz_date = time::amz_date(time::now_secs());
    let all = presign_query(
        &Presign {
            access_key_id: &creds.access_key_id,
            secret: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
            region,
            service: "sts",
            host: host_of(endpoint),
            amz_date: &amz_date,
            expires_secs: 300,
        },
        params,
    );
    let query: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect();
    format!("{endpoint}/?{}", query.join("&"))
}

fn sts_error(url: &str, status: u16, body: &str) -> String {
    let code = xml::text_of(body, "Code").unwrap_or_default();
    let message = xml::text_of(body, "Message").unwrap_or_default();
    let text: String = format!("{code} {message}").chars().take(300).collect();
    format!(
        "{}: HTTP {status}: {}",
        redact(url),
        crate::logging::peer_text(text.trim())
    )
}

fn sts_credentials(url: &str, source: &str) -> Result<Credentials, String> {
    let (status, body) = call("GET", url, &[]).map_err(|e| format!("{source}: {e}"))?;
    if status != 200 {
        return Err(format!("{source}: {}", sts_error(url, status, &body)));
    }
    parse_sts_credentials(&body, source)
}

/// The `<Credentials>` of an AssumeRole / AssumeRoleWithWebIdentity answer.
pub fn parse_sts_credentials(body: &str, source: &str) -> Result<Credentials, String> {
    let field = |tag: &str| {
        xml::text_of(body, tag)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{source}: the STS answer has no {tag}"))
    };
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expiration: time::parse_iso8601(&field("Expiration")?),
        source: source.into(),
    })
}

/// IMDSv2: PUT a session token, then GET the instance role's credentials.
fn imds(env: Env<'_>) -> Result<Credentials, String> {
    let base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "http://169.254.169.254".into());
    let (status, token) = call(
        "PUT",
        &format!("{base}/latest/api/token"),
        &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")],
    )
    .map_err(|e| format!("instance metadata: {e}"))?;
    if status != 200 {
        return Err(format!(
            "instance metadata: token request answered HTTP {status}"
        ));
    }
    let header = [("x-aws-ec2-metadata-token", token.trim())];
    let path = format!("{base}/latest/meta-data/iam/security-credentials/");
    let (status, roles) =
        call("GET", &path, &header).map_err(|e| format!("instance metadata: {e}"))?;
    let role = roles.lines().next().unwrap_or("").trim().to_string();
    if status != 200 || role.is_empty() || role.contains('/') {
        return Err(format!(
            "instance metadata: no instance role (HTTP {status})"
        ));
    }
    let (status, body) = call("GET", &format!("{path}{}", uri_encode(&role)), &header)
        .map_err(|e| format!("instance metadata: {e}"))?;
    if status != 200 {
        return Err(format!(
            "instance metadata: role credentials answered HTTP {status}"
        ));
    }
    parse_imds_credentials(&body)
}

/// The JSON IMDS answers with a role's credentials.
pub fn parse_imds_credentials(body: &str) -> Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        access_key_id: String,
        secret_access_key: String,
        token: Option<String>,
        expiration: Option<String>,
    }
    let a: Answer = serde_json::from_str(body)
        .map_err(|e| format!("instance metadata: malformed credentials answer: {e}"))?;
    Ok(Credentials {
        access_key_id: a.access_key_id,
        secret_access_key: a.secret_access_key,
        session_token: a.token.filter(|t| !t.is_empty()),
        expiration: a.expiration.as_deref().and_then(time::parse_iso8601),
        source: "instance metadata".into(),
    })
}

#[cfg(test)]
mod tests;
