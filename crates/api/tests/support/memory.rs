//! An in-memory `Backend` with counters and lists, for the API's tests and
//! the `demo` example (which serves it for browser and schema-driven tests).
//! Not a resolver: it answers from fixed data and the lists it is given.
//! An explanation of `panic.example.` panics, to test that a failing
//! backend call is a 500 and nothing worse.

#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hanse_api::model::{
    BlockAnswer, CacheEntry, CacheEntryKind, ClientMapping, ExplanationDocument, FeedState,
    FieldProblem, KeyCount, NegativeTrustAnchor, ProfileDocument, QueryLogEntry, QueryLogFilter,
    Readiness, Setting, Statistics,
};
use hanse_api::{Backend, BackendError, HistogramValue, MetricFamily, MetricKind, MetricSample};
use hanse_wire::{Name, RType};

#[derive(Default)]
pub struct TestBackend {
    pub ready: AtomicBool,
    pub query_log_on: AtomicBool,
    pub reloads: AtomicU64,
    pub refreshes: Mutex<Vec<String>>,
    pub flushes: Mutex<Vec<(String, bool)>>,
    pub profiles: Mutex<Vec<ProfileDocument>>,
    pub clients: Mutex<Vec<ClientMapping>>,
    pub last_filter: Mutex<Option<QueryLogFilter>>,
    /// Negative trust anchors: name and lifetime in seconds.
    pub negative_anchors: Mutex<Vec<(String, u64)>>,
}

impl TestBackend {
    pub fn new() -> Arc<TestBackend> {
        let backend = TestBackend::default();
        backend.ready.store(true, Ordering::SeqCst);
        backend.query_log_on.store(true, Ordering::SeqCst);
        backend.profiles.lock().unwrap().push(ProfileDocument {
            name: "default".to_owned(),
            feeds: vec!["malware".to_owned()],
            block_answer: Some(BlockAnswer::Mode("nxdomain".to_owned())),
            allowlist: Vec::new(),
            safe_search: Vec::new(),
            time_zone: "UTC".to_owned(),
            schedule: Vec::new(),
            overrides: Vec::new(),
        });
        Arc::new(backend)
    }
}

impl Backend for TestBackend {
    fn metrics(&self) -> Vec<MetricFamily> {
        vec![
            MetricFamily {
                name: "hanse_queries_total".to_owned(),
                help: "Queries received, by transport.".to_owned(),
                kind: MetricKind::Counter,
                samples: vec![
                    MetricSample::number(&[("transport", "udp")], 10.0),
                    MetricSample::number(&[("transport", "tcp")], 2.0),
                ],
            },
            MetricFamily {
                name: "hanse_upstream_rtt_seconds".to_owned(),
                help: "Round-trip time to \"upstream\" servers.".to_owned(),
                kind: MetricKind::Histogram,
                samples: vec![MetricSample::histogram(
                    &[("server", "192.0.2.1")],
                    HistogramValue {
                        buckets: vec![(0.01, 1), (0.1, 3)],
                        sum: 0.2,
                        count: 4,
                    },
                )],
            },
        ]
    }

    fn readiness(&self) -> Readiness {
        let ready = self.ready.load(Ordering::SeqCst);
        Readiness {
            ready,
            reasons: if ready {
                Vec::new()
            } else {
                vec!["feed \"malware\" not loaded yet".to_owned()]
            },
            draining: false,
        }
    }

    fn statistics(&self) -> Statistics {
        Statistics {
            queries_total: 12,
            queries_by_transport: vec![KeyCount {
                key: "udp".to_owned(),
                count: 10,
            }],
            blocked_total: 3,
            cache_hits: 6,
            cache_misses: 6,
            queries_per_second: Some(0.5),
            top_names: vec![KeyCount {
                key: "example.com.".to_owned(),
                count: 4,
            }],
            ..Statistics::default()
        }
    }

    fn settings(&self) -> Vec<Setting> {
        vec![Setting {
            section: "server".to_owned(),
            key: "listen".to_owned(),
            value: "127.0.0.1:53".to_owned(),
        }]
    }

    fn cache_lookup(&self, name: &Name, rtype: Option<RType>) -> Vec<CacheEntry> {
        vec![CacheEntry {
            name: name.to_string(),
            record_type: rtype.unwrap_or(RType::A).to_string(),
            kind: CacheEntryKind::Positive,
            ttl_remaining: 300,
            records: vec!["192.0.2.7".to_owned()],
            trust: Some("answer".to_owned()),
        }]
    }

    fn cache_flush(&self, name: &Name, subtree: bool) -> u64 {
        self.flushes
            .lock()
            .unwrap()
            .push((name.to_string(), subtree));
        if subtree { 5 } else { 1 }
    }

    fn feeds(&self) -> Vec<FeedState> {
        vec![FeedState {
            name: "malware".to_owned(),
            format: "rpz".to_owned(),
            source: "zone rpz.example. from 192.0.2.53".to_owned(),
            serial: Some(2026112201),
            rules: 42,
            ..FeedState::default()
        }]
    }

    fn refresh_feed(&self, name: &str) -> Result<(), BackendError> {
        if name != "malware" {
            return Err(BackendError::NotFound(format!("feed {name:?}")));
        }
        self.refreshes.lock().unwrap().push(name.to_owned());
        Ok(())
    }

    fn profiles(&self) -> Vec<ProfileDocument> {
        self.profiles.lock().unwrap().clone()
    }

    fn create_profile(&self, profile: ProfileDocument) -> Result<(), BackendError> {
        let mut profiles = self.profiles.lock().unwrap();
        if profiles.iter().any(|known| known.name == profile.name) {
            return Err(BackendError::Exists(format!("profile {:?}", profile.name)));
        }
        if let Some(feed) = profile.feeds.iter().find(|feed| *feed != "malware") {
            return Err(BackendError::Invalid(vec![FieldProblem::new(
                "feeds",
                format!("unknown feed {feed:?}"),
            )]));
        }
        profiles.push(profile);
        Ok(())
    }

    fn update_profile(&self, name: &str, profile: ProfileDocument) -> Result<(), BackendError> {
        let mut profiles = self.profiles.lock().unwrap();
        let known = profiles
            .iter_mut()
            .find(|known| known.name == name)
            .ok_or_else(|| BackendError::NotFound(format!("profile {name:?}")))?;
        *known = profile;
        Ok(())
    }

    fn delete_profile(&self, name: &str) -> Result<(), BackendError> {
        let mut profiles = self.profiles.lock().unwrap();
        let before = profiles.len();
        profiles.retain(|profile| profile.name != name);
        if profiles.len() == before {
            return Err(BackendError::NotFound(format!("profile {name:?}")));
        }
        Ok(())
    }

    fn clients(&self) -> Vec<ClientMapping> {
        self.clients.lock().unwrap().clone()
    }

    fn create_client(&self, mapping: ClientMapping) -> Result<(), BackendError> {
        if !self
            .profiles()
            .iter()
            .any(|profile| profile.name == mapping.profile)
        {
            return Err(BackendError::Invalid(vec![FieldProblem::new(
                "profile",
                format!("no profile {:?}", mapping.profile),
            )]));
        }
        let mut clients = self.clients.lock().unwrap();
        if clients.iter().any(|known| known.cidr == mapping.cidr) {
            return Err(BackendError::Exists(format!(
                "client mapping {}",
                mapping.cidr
            )));
        }
        clients.push(mapping);
        Ok(())
    }

    fn update_client(&self, cidr: &str, mapping: ClientMapping) -> Result<(), BackendError> {
        let mut clients = self.clients.lock().unwrap();
        let known = clients
            .iter_mut()
            .find(|known| known.cidr == cidr)
            .ok_or_else(|| BackendError::NotFound(format!("client mapping {cidr}")))?;
        *known = mapping;
        Ok(())
    }

    fn delete_client(&self, cidr: &str) -> Result<(), BackendError> {
        let mut clients = self.clients.lock().unwrap();
        let before = clients.len();
        clients.retain(|known| known.cidr != cidr);
        if clients.len() == before {
            return Err(BackendError::NotFound(format!("client mapping {cidr}")));
        }
        Ok(())
    }

    fn explain(
        &self,
        name: &Name,
        rtype: RType,
        client: Option<IpAddr>,
        _at: Option<i64>,
    ) -> Result<ExplanationDocument, BackendError> {
        if name.to_string() == "panic.example." {
            panic!("the test backend panics on request");
        }
        Ok(ExplanationDocument {
            name: name.to_string(),
            record_type: rtype.to_string(),
            client: client.map(|client| client.to_string()),
            profile: "default".to_owned(),
            verdict: "blocked".to_owned(),
            feed: Some("malware".to_owned()),
            steps: vec!["matched QNAME rule".to_owned()],
            ..ExplanationDocument::default()
        })
    }

    fn query_log_search(
        &self,
        filter: &QueryLogFilter,
    ) -> Result<Vec<QueryLogEntry>, BackendError> {
        if !self.query_log_on.load(Ordering::SeqCst) {
            return Err(BackendError::QueryLogOff);
        }
        *self.last_filter.lock().unwrap() = Some(filter.clone());
        Ok(vec![QueryLogEntry {
            id: 7,
            time: 1_790_000_000,
            client: Some("127.0.0.1".to_owned()),
            name: "ads.example.".to_owned(),
            record_type: "A".to_owned(),
            rcode: "NXDOMAIN".to_owned(),
            blocked: true,
            transport: "udp".to_owned(),
            ..QueryLogEntry::default()
        }])
    }

    fn query_log_export(&self, client: IpAddr) -> Result<Vec<QueryLogEntry>, BackendError> {
        if !self.query_log_on.load(Ordering::SeqCst) {
            return Err(BackendError::QueryLogOff);
        }
        Ok(vec![QueryLogEntry {
            id: 1,
            client: Some(client.to_string()),
            name: "example.com.".to_owned(),
            ..QueryLogEntry::default()
        }])
    }

    fn query_log_erase(&self, _client: IpAddr) -> Result<u64, BackendError> {
        if !self.query_log_on.load(Ordering::SeqCst) {
            return Err(BackendError::QueryLogOff);
        }
        Ok(3)
    }

    fn reload(&self) -> Result<(), BackendError> {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn negative_trust_anchors(&self) -> Vec<NegativeTrustAnchor> {
        let mut anchors = vec![NegativeTrustAnchor {
            name: "configured.example.".to_owned(),
            source: "config".to_owned(),
            expires: None,
            expires_in: None,
        }];
        anchors.extend(
            self.negative_anchors
                .lock()
                .unwrap()
                .iter()
                .map(|(name, lifetime)| NegativeTrustAnchor {
                    name: name.clone(),
                    source: "api".to_owned(),
                    expires: Some(1_800_000_000),
                    expires_in: Some(*lifetime),
                }),
        );
        anchors
    }

    fn add_negative_trust_anchor(
        &self,
        name: &Name,
        lifetime_seconds: u64,
    ) -> Result<NegativeTrustAnchor, BackendError> {
        let mut anchors = self.negative_anchors.lock().unwrap();
        anchors.retain(|(known, _)| *known != name.to_string());
        anchors.push((name.to_string(), lifetime_seconds));
        Ok(NegativeTrustAnchor {
            name: name.to_string(),
            source: "api".to_owned(),
            expires: Some(1_800_000_000),
            expires_in: Some(lifetime_seconds),
        })
    }

    fn remove_negative_trust_anchor(&self, name: &Name) -> Result<(), BackendError> {
        if name.to_string() == "configured.example." {
            return Err(BackendError::Invalid(vec![FieldProblem::new(
                "name",
                "configured in the configuration file",
            )]));
        }
        let mut anchors = self.negative_anchors.lock().unwrap();
        let before = anchors.len();
        anchors.retain(|(known, _)| *known != name.to_string());
        if anchors.len() == before {
            return Err(BackendError::NotFound(format!(
                "negative trust anchor {name}"
            )));
        }
        Ok(())
    }
}
