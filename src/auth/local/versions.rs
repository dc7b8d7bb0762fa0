//! The brokers' API versions that local authentication advertises to clients before any broker
//! connection of theirs: learned with a probe of the proxy's own and cached.

use super::{
    read_frame_from, time_left, write_frame, ApiEntries, MAX_API_VERSIONS_VERSION,
    MAX_VERSIONS_RESPONSE, VERSIONS_TTL,
};
use crate::codec::api::ApiKey;
use crate::codec::api_versions::ApiVersionsResponse;
use crate::codec::header;
use crate::codec::sasl;
use crate::net::frame::{ConnError, Side};
use crate::net::stream::Stream;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The brokers' ApiVersions lists, per broker, learned by probing and reused for
/// [`VERSIONS_TTL`]. One probe per broker runs at a time, and outside the lock: the clients that
/// need the list meanwhile wait for that probe, each only until its own deadline (then the next
/// one probes), so a broker that drops packets holds no client past its deadline, and no client
/// waits behind another broker's probe. The table has one entry per broker the proxy serves.
#[derive(Default)]
pub struct VersionsCache {
    brokers: Mutex<HashMap<String, Learned>>,
    /// Signalled when a probe ends, well or not.
    probed: Condvar,
}

#[derive(Default)]
struct Learned {
    /// The entries and when they were learned.
    entries: Option<(ApiEntries, Instant)>,
    /// A client is probing the broker now.
    probing: bool,
}

impl VersionsCache {
    /// `broker`'s entries: cached, or learned with `probe` (which is given the turn when no
    /// other client is probing), or a timeout at `deadline`.
    pub fn get(
        &self,
        broker: &str,
        deadline: Instant,
        probe: impl FnOnce() -> Result<ApiEntries, ConnError>,
    ) -> Result<ApiEntries, ConnError> {
        let turn = {
            let mut brokers = self.lock();
            loop {
                let learned = brokers.entry(broker.to_string()).or_default();
                if let Some((entries, at)) = &learned.entries {
                    if at.elapsed() < VERSIONS_TTL {
                        return Ok(entries.clone());
                    }
                }
                if !learned.probing {
                    learned.probing = true;
                    break ProbeTurn {
                        cache: self,
                        broker,
                    };
                }
                let left = time_left(deadline)?;
                brokers = self
                    .probed
                    .wait_timeout(brokers, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        };
        let entries = probe()?;
        turn.learned(&entries);
        Ok(entries)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Learned>> {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The turn to probe a broker; when it ends (with entries or not), the clients waiting for it
/// are woken.
struct ProbeTurn<'a> {
    cache: &'a VersionsCache,
    broker: &'a str,
}

impl ProbeTurn<'_> {
    fn learned(self, entries: &ApiEntries) {
        if let Some(learned) = self.cache.lock().get_mut(self.broker) {
            learned.entries = Some((entries.clone(), Instant::now()));
        }
    }
}

impl Drop for ProbeTurn<'_> {
    fn drop(&mut self) {
        if let Some(learned) = self.cache.lock().get_mut(self.broker) {
            learned.probing = false;
        }
        self.cache.probed.notify_all();
    }
}

/// Asks the broker on `stream` for its ApiVersions (v0, which every broker answers), and
/// returns them capped to what the proxy decodes, with the SASL APIs set to what the proxy
/// itself serves.
pub fn probe_versions(
    stream: &mut Stream,
    timeout: Duration,
) -> Result<Vec<(i16, i16, i16)>, ConnError> {
    let deadline = Instant::now() + timeout;
    const CORRELATION_ID: i32 = 0x6b70;
    let mut request = Vec::new();
    header::encode_request_header(
        &header::RequestHeader {
            api_key: ApiKey::API_VERSIONS,
            api_version: 0,
            correlation_id: CORRELATION_ID,
            client_id: Some("kafka-proxy"),
        },
        &mut request,
    );
    write_frame(stream, &request, deadline, Side::Broker)?;
    let response = read_frame_from(
        stream,
        deadline,
        4,
        MAX_VERSIONS_RESPONSE,
        true,
        Side::Broker,
    )?;
    let malformed = |e| ConnError::Malformed(Side::Broker, ApiKey::API_VERSIONS, 0, e);
    let (correlation, body) = response.split_at(4);
    if correlation != CORRELATION_ID.to_be_bytes() {
        return Err(ConnError::CorrelationMismatch {
            expected: CORRELATION_ID,
            got: i32::from_be_bytes([
                correlation[0],
                correlation[1],
                correlation[2],
                correlation[3],
            ]),
            api_key: ApiKey::API_VERSIONS,
        });
    }
    let decoded = ApiVersionsResponse::decode(0, body).map_err(malformed)?;
    if decoded.error_code != 0 {
        return Err(ConnError::Refused(format!(
            "broker answered the proxy's ApiVersions request with error {}",
            decoded.error_code
        )));
    }
    let mut entries: Vec<(i16, i16, i16)> = decoded
        .api_keys
        .iter()
        .filter(|e| {
            e.api_key != ApiKey::SASL_HANDSHAKE.0 && e.api_key != ApiKey::SASL_AUTHENTICATE.0
        })
        .map(|e| {
            let cap = ApiKey(e.api_key).max_decoded_version().unwrap_or(i16::MAX);
            let max = if e.min_version <= cap {
                e.max_version.min(cap)
            } else {
                e.max_version
            };
            (e.api_key, e.min_version, max)
        })
        .collect();
    // The proxy answers these itself, in every version its codec has.
    entries.push((ApiKey::SASL_HANDSHAKE.0, 0, *sasl::HANDSHAKE_VERSIONS.end()));
    entries.push((
        ApiKey::SASL_AUTHENTICATE.0,
        0,
        *sasl::AUTHENTICATE_VERSIONS.end(),
    ));
    if let Some(api_versions) = entries.iter_mut().find(|e| e.0 == ApiKey::API_VERSIONS.0) {
        api_versions.2 = api_versions.2.min(MAX_API_VERSIONS_VERSION);
    } else {
        entries.push((ApiKey::API_VERSIONS.0, 0, MAX_API_VERSIONS_VERSION));
    }
    entries.sort_unstable();
    Ok(entries)
}
