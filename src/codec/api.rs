//! API keys: an open newtype so unknown keys pass through and still print readably, the
//! flexible-version threshold per key (which decides header versions), and the highest version of
//! each decoded response the proxy can parse.

use std::fmt;

/// A Kafka API key. Unknown values are valid: the proxy forwards what it does not understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKey(pub i16);

impl ApiKey {
    pub const PRODUCE: ApiKey = ApiKey(0);
    pub const FETCH: ApiKey = ApiKey(1);
    pub const METADATA: ApiKey = ApiKey(3);
    pub const FIND_COORDINATOR: ApiKey = ApiKey(10);
    pub const SASL_HANDSHAKE: ApiKey = ApiKey(17);
    pub const API_VERSIONS: ApiKey = ApiKey(18);
    pub const SASL_AUTHENTICATE: ApiKey = ApiKey(36);
    pub const DESCRIBE_CLUSTER: ApiKey = ApiKey(60);
    pub const SHARE_FETCH: ApiKey = ApiKey(78);
    pub const SHARE_ACKNOWLEDGE: ApiKey = ApiKey(79);

    /// This API's row of [`API_TABLE`]: a binary search (the table is sorted by key, as a test
    /// checks), since the metrics ask for every request and response.
    fn info(self) -> Option<&'static ApiInfo> {
        API_TABLE
            .binary_search_by_key(&self.0, |api| api.key)
            .ok()
            .map(|i| &API_TABLE[i])
    }

    /// The API's name as Kafka spells it, if known.
    pub fn name(self) -> Option<&'static str> {
        self.info().map(|api| api.name)
    }

    /// The first flexible version of this API, or `None` if it has none or is unknown.
    pub fn first_flexible_version(self) -> Option<i16> {
        self.info().and_then(|api| api.first_flexible)
    }

    /// Whether `version` of this API uses the flexible encoding (request header v2, response
    /// header v1, compact types, tagged fields). `None` when the key is unknown.
    pub fn is_flexible(self, version: i16) -> Option<bool> {
        let api = self.info()?;
        Some(api.first_flexible.is_some_and(|first| version >= first))
    }

    /// Whether the response header for `version` carries a TAG_BUFFER (response header v1).
    /// ApiVersions always uses response header v0 (KIP-511).
    pub fn response_header_has_tags(self, version: i16) -> Option<bool> {
        if self == ApiKey::API_VERSIONS {
            return Some(false);
        }
        self.is_flexible(version)
    }

    /// Whether `version` of this API is one Kafka 4.3.1 brokers serve to clients: what the
    /// metrics count by name; everything else (a made-up key or version) is counted in one
    /// bucket, so a client cannot grow the metrics without bound.
    pub fn is_known_version(self, version: i16) -> bool {
        self.info()
            .is_some_and(|api| (0..=api.max_known).contains(&version))
    }

    /// The lowest version of this API Apache Kafka 4 brokers accept (0 for most): they close
    /// the connection on an older one (KIP-896). `None` when the key is unknown.
    pub fn kafka4_min_version(self) -> Option<i16> {
        self.info().map(|api| api.kafka4_min)
    }

    /// The highest version of this API's response the proxy decodes, for the APIs whose responses
    /// it reads ([`crate::codec::table::DECODED`]). ApiVersions responses are capped to these so a
    /// client never negotiates a version the proxy cannot parse. `None` for APIs passed through
    /// as bytes.
    pub fn max_decoded_version(self) -> Option<i16> {
        crate::codec::table::lookup(self).map(|row| *row.versions.end())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unknown API key {}", self.0),
        }
    }
}

struct ApiInfo {
    key: i16,
    name: &'static str,
    first_flexible: Option<i16>,
    /// The lowest version an Apache Kafka 4 broker accepts (KIP-896 removed the older ones; a
    /// broker closes the connection on them). Read from a Kafka 4.3.1 broker's ApiVersions,
    /// except Produce: brokers advertise v0 there so that old librdkafka versions still
    /// connect (KAFKA-18659), but accept v3 and later only.
    kafka4_min: i16,
    /// The highest version a Kafka 4.3.1 broker answers on its client listeners (its
    /// ApiVersions); -1 for APIs it does not serve there (controller-only, ZooKeeper-era).
    max_known: i16,
}

const fn api(
    key: i16,
    name: &'static str,
    first_flexible: Option<i16>,
    kafka4_min: i16,
    max_known: i16,
) -> ApiInfo {
    ApiInfo {
        key,
        name,
        first_flexible,
        kafka4_min,
        max_known,
    }
}

/// From Apache Kafka 4.3.1's message definitions (and the removed ZooKeeper-era keys from 3.9,
/// so old clients still print readably).
const API_TABLE: &[ApiInfo] = &[
    api(0, "Produce", Some(9), 3, 13),
    api(1, "Fetch", Some(12), 4, 18),
    api(2, "ListOffsets", Some(6), 1, 11),
    api(3, "Metadata", Some(9), 0, 13),
    api(4, "LeaderAndIsr", Some(4), 0, -1),
    api(5, "StopReplica", Some(2), 0, -1),
    api(6, "UpdateMetadata", Some(6), 0, -1),
    api(7, "ControlledShutdown", Some(3), 0, -1),
    api(8, "OffsetCommit", Some(8), 2, 10),
    api(9, "OffsetFetch", Some(6), 1, 10),
    api(10, "FindCoordinator", Some(3), 0, 6),
    api(11, "JoinGroup", Some(6), 0, 9),
    api(12, "Heartbeat", Some(4), 0, 4),
    api(13, "LeaveGroup", Some(4), 0, 5),
    api(14, "SyncGroup", Some(4), 0, 5),
    api(15, "DescribeGroups", Some(5), 0, 6),
    api(16, "ListGroups", Some(3), 0, 5),
    api(17, "SaslHandshake", None, 0, 1),
    api(18, "ApiVersions", Some(3), 0, 4),
    api(19, "CreateTopics", Some(5), 2, 7),
    api(20, "DeleteTopics", Some(4), 1, 6),
    api(21, "DeleteRecords", Some(2), 0, 2),
    api(22, "InitProducerId", Some(2), 0, 5),
    api(23, "OffsetForLeaderEpoch", Some(4), 2, 4),
    api(24, "AddPartitionsToTxn", Some(3), 0, 5),
    api(25, "AddOffsetsToTxn", Some(3), 0, 4),
    api(26, "EndTxn", Some(3), 0, 5),
    api(27, "WriteTxnMarkers", Some(1), 1, 2),
    api(28, "TxnOffsetCommit", Some(3), 0, 5),
    api(29, "DescribeAcls", Some(2), 1, 3),
    api(30, "CreateAcls", Some(2), 1, 3),
    api(31, "DeleteAcls", Some(2), 1, 3),
    api(32, "DescribeConfigs", Some(4), 1, 4),
    api(33, "AlterConfigs", Some(2), 0, 2),
    api(34, "AlterReplicaLogDirs", Some(2), 1, 2),
    api(35, "DescribeLogDirs", Some(2), 1, 5),
    api(36, "SaslAuthenticate", Some(2), 0, 2),
    api(37, "CreatePartitions", Some(2), 0, 3),
    api(38, "CreateDelegationToken", Some(2), 1, 3),
    api(39, "RenewDelegationToken", Some(2), 1, 2),
    api(40, "ExpireDelegationToken", Some(2), 1, 2),
    api(41, "DescribeDelegationToken", Some(2), 1, 3),
    api(42, "DeleteGroups", Some(2), 0, 2),
    api(43, "ElectLeaders", Some(2), 0, 2),
    api(44, "IncrementalAlterConfigs", Some(1), 0, 1),
    api(45, "AlterPartitionReassignments", Some(0), 0, 1),
    api(46, "ListPartitionReassignments", Some(0), 0, 0),
    api(47, "OffsetDelete", None, 0, 0),
    api(48, "DescribeClientQuotas", Some(1), 0, 1),
    api(49, "AlterClientQuotas", Some(1), 0, 1),
    api(50, "DescribeUserScramCredentials", Some(0), 0, 0),
    api(51, "AlterUserScramCredentials", Some(0), 0, 0),
    api(52, "Vote", Some(0), 0, -1),
    api(53, "BeginQuorumEpoch", Some(1), 0, -1),
    api(54, "EndQuorumEpoch", Some(1), 0, -1),
    api(55, "DescribeQuorum", Some(0), 0, 2),
    api(56, "AlterPartition", Some(0), 0, -1),
    api(57, "UpdateFeatures", Some(0), 0, 2),
    api(58, "Envelope", Some(0), 0, -1),
    api(59, "FetchSnapshot", Some(0), 0, -1),
    api(60, "DescribeCluster", Some(0), 0, 2),
    api(61, "DescribeProducers", Some(0), 0, 0),
    api(62, "BrokerRegistration", Some(0), 0, -1),
    api(63, "BrokerHeartbeat", Some(0), 0, -1),
    api(64, "UnregisterBroker", Some(0), 0, 0),
    api(65, "DescribeTransactions", Some(0), 0, 0),
    api(66, "ListTransactions", Some(0), 0, 2),
    api(67, "AllocateProducerIds", Some(0), 0, -1),
    api(68, "ConsumerGroupHeartbeat", Some(0), 0, 1),
    api(69, "ConsumerGroupDescribe", Some(0), 0, 1),
    api(70, "ControllerRegistration", Some(0), 0, -1),
    api(71, "GetTelemetrySubscriptions", Some(0), 0, -1),
    api(72, "PushTelemetry", Some(0), 0, -1),
    api(73, "AssignReplicasToDirs", Some(0), 0, -1),
    api(74, "ListConfigResources", Some(0), 0, 1),
    api(75, "DescribeTopicPartitions", Some(0), 0, 0),
    api(76, "ShareGroupHeartbeat", Some(0), 1, 1),
    api(77, "ShareGroupDescribe", Some(0), 1, 1),
    api(78, "ShareFetch", Some(0), 1, 2),
    api(79, "ShareAcknowledge", Some(0), 1, 2),
    api(80, "AddRaftVoter", Some(0), 0, 1),
    api(81, "RemoveRaftVoter", Some(0), 0, 0),
    api(82, "UpdateRaftVoter", Some(0), 0, -1),
    api(83, "InitializeShareGroupState", Some(0), 0, 0),
    api(84, "ReadShareGroupState", Some(0), 0, 0),
    api(85, "WriteShareGroupState", Some(0), 0, 1),
    api(86, "DeleteShareGroupState", Some(0), 0, 0),
    api(87, "ReadShareGroupStateSummary", Some(0), 0, 1),
    api(88, "StreamsGroupHeartbeat", Some(0), 0, 0),
    api(89, "StreamsGroupDescribe", Some(0), 0, 0),
    api(90, "DescribeShareGroupOffsets", Some(0), 0, 1),
    api(91, "AlterShareGroupOffsets", Some(0), 0, 0),
    api(92, "DeleteShareGroupOffsets", Some(0), 0, 0),
    api(93, "StreamsGroupTopologyDescriptionUpdate", Some(0), 0, -1),
    api(94, "UnregisterController", Some(0), 0, -1),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in API_TABLE.windows(2) {
            assert!(pair[0].key < pair[1].key);
        }
    }

    #[test]
    fn kafka_4_minimum_versions() {
        // As a Kafka 4.3.1 broker's ApiVersions lists them, and Produce as the broker treats it
        // (tests/kafka/legacy.rs: it closes the connection on Produce v2).
        assert_eq!(ApiKey::PRODUCE.kafka4_min_version(), Some(3));
        assert_eq!(ApiKey::FETCH.kafka4_min_version(), Some(4));
        assert_eq!(ApiKey::METADATA.kafka4_min_version(), Some(0));
        assert_eq!(ApiKey(8).kafka4_min_version(), Some(2)); // OffsetCommit
        assert_eq!(ApiKey(999).kafka4_min_version(), None);
    }

    #[test]
    fn known_versions() {
        assert!(ApiKey::PRODUCE.is_known_version(0));
        assert!(ApiKey::PRODUCE.is_known_version(13));
        assert!(!ApiKey::PRODUCE.is_known_version(14));
        assert!(!ApiKey::PRODUCE.is_known_version(-1));
        assert!(ApiKey::SHARE_FETCH.is_known_version(2));
        assert!(!ApiKey(4).is_known_version(0)); // LeaderAndIsr: not served to clients
        assert!(!ApiKey(999).is_known_version(0));
        // What the proxy decodes is never counted as unknown.
        for api in API_TABLE {
            if let Some(max) = ApiKey(api.key).max_decoded_version() {
                assert!(api.max_known >= max, "{}", api.name);
            }
        }
    }

    #[test]
    fn header_rules() {
        assert_eq!(ApiKey::METADATA.is_flexible(8), Some(false));
        assert_eq!(ApiKey::METADATA.is_flexible(9), Some(true));
        assert_eq!(ApiKey::SASL_HANDSHAKE.is_flexible(1), Some(false));
        assert_eq!(ApiKey::API_VERSIONS.is_flexible(3), Some(true));
        assert_eq!(
            ApiKey::API_VERSIONS.response_header_has_tags(3),
            Some(false)
        );
        assert_eq!(ApiKey(999).is_flexible(0), None);
        assert_eq!(ApiKey(999).to_string(), "unknown API key 999");
        assert_eq!(ApiKey::FETCH.to_string(), "Fetch (1)");
    }
}
