//! Trust points that change while the resolver runs (RFC 7646, RFC 5011):
//! negative trust anchors added by the operator at run time, each with its
//! expiry, and the trust anchors that automated updates (RFC 5011) keep,
//! which stand in for the configured ones once set.
//!
//! Both are swapped whole (`arc-swap`), so a validation reads one
//! consistent list without a lock; the owner of the lists (the binary)
//! keeps them on disk and sets them here.
//!
//! # Limitations
//! - An expired negative trust anchor stops applying at once but stays in
//!   the list until its owner sets a new one.
//! - Data validated before a change stays cached with its old status; the
//!   owner flushes the names concerned.

use arc_swap::{ArcSwap, ArcSwapOption};
use hanse_dnssec::TrustAnchor;
use hanse_wire::Name;
use std::sync::Arc;

/// A negative trust anchor set at run time: `name` and everything below
/// it are treated as insecure until `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeTrustAnchor {
    /// The name at the top of the subtree.
    pub name: Name,
    /// When it stops applying (Unix seconds).
    pub expires: u32,
}

/// The run-time trust points of a resolver ([`crate::Resolver::runtime_trust`]).
#[derive(Debug, Default)]
pub struct RuntimeTrust {
    anchors: ArcSwapOption<Vec<TrustAnchor>>,
    negative: ArcSwap<Vec<NegativeTrustAnchor>>,
}

impl RuntimeTrust {
    /// Sets the trust anchors kept by automated updates; they replace
    /// [`crate::DnssecConfig::trust_anchors`] until set to `None`.
    pub fn set_trust_anchors(&self, anchors: Option<Vec<TrustAnchor>>) {
        self.anchors.store(anchors.map(Arc::new));
    }

    /// The trust anchors kept by automated updates, if any are set.
    pub fn trust_anchors(&self) -> Option<Arc<Vec<TrustAnchor>>> {
        self.anchors.load_full()
    }

    /// Replaces the negative trust anchors set at run time.
    pub fn set_negative_trust_anchors(&self, anchors: Vec<NegativeTrustAnchor>) {
        self.negative.store(Arc::new(anchors));
    }

    /// The negative trust anchors set at run time, expired ones included.
    pub fn negative_trust_anchors(&self) -> Arc<Vec<NegativeTrustAnchor>> {
        self.negative.load_full()
    }

    /// Whether `name` is at or below a run-time negative trust anchor that
    /// has not expired at `unix_now`.
    pub fn is_negative_anchor(&self, name: &Name, unix_now: u32) -> bool {
        self.negative
            .load()
            .iter()
            .any(|anchor| anchor.expires > unix_now && name.is_subdomain_of(&anchor.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_anchors_cover_their_subtree_until_they_expire() {
        let trust = RuntimeTrust::default();
        let name = |text: &str| Name::from_ascii(text).unwrap();
        assert!(!trust.is_negative_anchor(&name("www.example."), 100));
        trust.set_negative_trust_anchors(vec![NegativeTrustAnchor {
            name: name("example."),
            expires: 200,
        }]);
        assert!(trust.is_negative_anchor(&name("www.example."), 100));
        assert!(trust.is_negative_anchor(&name("example."), 199));
        assert!(!trust.is_negative_anchor(&name("example."), 200));
        assert!(!trust.is_negative_anchor(&name("example.org."), 100));
        assert!(trust.trust_anchors().is_none());
        trust.set_trust_anchors(Some(Vec::new()));
        assert_eq!(trust.trust_anchors().map(|list| list.len()), Some(0));
    }
}
