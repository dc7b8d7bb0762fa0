//! Where each node's SNI name leads: node id -> the broker address Metadata (or DescribeCluster,
//! FindCoordinator, NodeEndpoints) last named for it. Filled from every response the proxy
//! rewrites, on any listener, so a name is routable as soon as a client could have learned it.

use crate::config::HostPort;
use std::collections::HashMap;
use std::sync::RwLock;

/// Nodes the table holds at most: brokers name the nodes, and a broker naming ever more ids
/// must not grow it without end. Far above any real cluster.
pub const MAX_NODES: usize = 4096;

pub struct Routes {
    nodes: RwLock<HashMap<i32, HostPort>>,
    max: usize,
}

impl Routes {
    pub fn new(max: usize) -> Routes {
        Routes {
            nodes: RwLock::new(HashMap::new()),
            max,
        }
    }

    /// Records that `node_id` is served by `broker` (a later response wins: a broker that
    /// moved is followed). Refused when the node is new and the table is full.
    pub fn learn(&self, node_id: i32, broker: &HostPort) -> Result<(), String> {
        if self.get(node_id).as_ref() == Some(broker) {
            return Ok(());
        }
        let mut nodes = self
            .nodes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !nodes.contains_key(&node_id) && nodes.len() >= self.max {
            return Err(format!(
                "the SNI route table already holds {} nodes, the most it keeps; node {node_id} \
                 ({broker}) is not routable",
                self.max
            ));
        }
        if let Some(old) = nodes.insert(node_id, broker.clone()) {
            log::info!("SNI route for node {node_id} moved from {old} to {broker}");
        } else {
            log::debug!("SNI route for node {node_id}: {broker}");
        }
        Ok(())
    }

    /// The broker serving `node_id`, if a response has named it.
    pub fn get(&self, node_id: i32) -> Option<HostPort> {
        self.nodes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&node_id)
            .cloned()
    }

    /// Every route, by node id, for the debug endpoint.
    pub fn snapshot(&self) -> Vec<(i32, HostPort)> {
        let nodes = self
            .nodes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut all: Vec<_> = nodes.iter().map(|(id, hp)| (*id, hp.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn learns_follows_and_is_bounded() {
        let routes = Routes::new(2);
        assert_eq!(routes.get(1), None);
        routes.learn(1, &hp("a", 9092)).unwrap();
        routes.learn(2, &hp("b", 9092)).unwrap();
        assert_eq!(routes.get(1), Some(hp("a", 9092)));
        // A known node may move even when the table is full.
        routes.learn(1, &hp("c", 9093)).unwrap();
        assert_eq!(routes.get(1), Some(hp("c", 9093)));
        let err = routes.learn(3, &hp("d", 9092)).unwrap_err();
        assert!(err.contains("node 3"), "{err}");
        assert_eq!(routes.get(3), None);
        assert_eq!(
            routes.snapshot(),
            vec![(1, hp("c", 9093)), (2, hp("b", 9092))]
        );
    }
}
