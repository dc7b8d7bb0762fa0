//! The HTTP calls of credential lookup (STS, IMDS), each with a deadline and a capped body.
//! ureq, behind the `aws-msk-iam` feature; without it every call fails with why.

use std::time::Duration;

/// Every STS/IMDS call is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read: STS and IMDS answers are a few KiB.
#[cfg(feature = "aws-msk-iam")]
const MAX_BODY: u64 = 64 * 1024;

/// Sends a request; returns (status, body). `headers` are (name, value).
#[cfg(feature = "aws-msk-iam")]
pub fn call(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let result = if method == "PUT" {
        let mut request = agent.put(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send_empty()
    } else {
        let mut request = agent.get(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.call()
    };
    let mut response = result.map_err(|e| format!("{}: {e}", redact(url)))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| format!("{}: reading the response: {e}", redact(url)))?;
    Ok((status, body))
}

#[cfg(not(feature = "aws-msk-iam"))]
pub fn call(_: &str, url: &str, _: &[(&str, &str)]) -> Result<(u16, String), String> {
    Err(format!(
        "{}: this build has no AWS_MSK_IAM support (cargo feature aws-msk-iam)",
        redact(url)
    ))
}

/// A URL without its query (which carries signatures and tokens), for messages.
pub fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
