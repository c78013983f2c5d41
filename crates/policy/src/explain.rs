//! "Why was this blocked": an [`Explanation`] of one decision as a value, with
//! a `Display` for the command line, so that `hanse explain` and a future API
//! share the logic.
//!
//! The explanation evaluates the query before resolution (CLIENT-IP and
//! QNAME triggers). It lists the profile and why it was chosen, the local
//! time in the profile's zone, each feed of the profile and whether it was
//! active, the decision with the rule, the feed and its serial or version,
//! and the answer the client would get.
//!
//! # Limitations
//! - Triggers that need the resolved answer (RESPONSE-IP, NSDNAME, NSIP) are
//!   not evaluated; the explanation says whether the profile has any.

use crate::answer::{Synthesis, synthesize};
use crate::policy::{ClientInfo, EdeCode, PolicySet, SelectionReason, Verdict};
use crate::schedule::{UnixTime, format_local};
use hanse_wire::{Name, RType};
use std::fmt;

/// The decision, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No rule applies.
    Pass,
    /// On the allowlist (this entry).
    Allowed(String),
    /// Rewritten for safe search.
    SafeSearch {
        /// The engine.
        engine: String,
        /// The safe-search host.
        target: String,
    },
    /// A rule applies.
    Match {
        /// The feed.
        feed: String,
        /// Its SOA serial, for policy zones.
        serial: Option<u32>,
        /// Its version.
        version: u64,
        /// The trigger kind (`QNAME`, …).
        trigger_kind: String,
        /// The trigger as the feed writes it.
        trigger: String,
        /// The line, for lists.
        line: Option<u32>,
        /// The rule's own action.
        rule_action: String,
        /// The action taken (after the feed's override).
        action: String,
        /// The EDE attached.
        ede: Option<EdeCode>,
        /// The EDE's EXTRA-TEXT.
        extra_text: String,
    },
}

/// One feed of the chosen profile and its state at the time asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    /// The feed's name.
    pub feed: String,
    /// Enabled and inside its schedule.
    pub active: bool,
    /// Why not, if not.
    pub note: String,
}

/// Why a query gets the answer it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The name asked.
    pub name: String,
    /// The type asked.
    pub rtype: RType,
    /// The profile chosen.
    pub profile: String,
    /// Why that profile.
    pub selection: String,
    /// The time asked about, in the profile's zone.
    pub local_time: String,
    /// The profile's feeds in order.
    pub feeds: Vec<FeedState>,
    /// The decision.
    pub decision: Decision,
    /// The answer, in words (`NXDOMAIN with SOA`, `CNAME …`).
    pub answer: String,
    /// Whether triggers after resolution could still change the decision.
    pub response_triggers_pending: bool,
}

impl PolicySet {
    /// Explains the decision for `name`/`rtype` from `client` at `time`.
    pub fn explain(
        &self,
        name: &Name,
        rtype: RType,
        client: &ClientInfo<'_>,
        time: UnixTime,
    ) -> Explanation {
        let (profile_id, reason) = self.select_profile(client);
        let profile = self.profile(profile_id);
        let selection = match reason {
            SelectionReason::Rule(index) => format!(
                "client rule {}: {}",
                index + 1,
                self.clients[index].selector
            ),
            SelectionReason::Default => "default profile (no client rule matched)".to_owned(),
        };
        let moment = crate::schedule::local_moment(&profile.time_zone, time);
        let feeds = profile
            .uses
            .iter()
            .map(|compiled| {
                let spec = &compiled.spec;
                let in_window = spec.schedule.is_empty()
                    || spec.schedule.iter().any(|window| window.contains(moment));
                let note = if !spec.enabled {
                    "disabled".to_owned()
                } else if !in_window {
                    let windows: Vec<String> =
                        spec.schedule.iter().map(ToString::to_string).collect();
                    format!("outside its schedule ({})", windows.join("; "))
                } else {
                    String::new()
                };
                FeedState {
                    feed: spec.feed.clone(),
                    active: spec.enabled && in_window,
                    note,
                }
            })
            .collect();
        let verdict = self.evaluate(profile_id, name.as_wire(), client.address, None, time);
        let decision = match &verdict {
            Verdict::Pass => Decision::Pass,
            Verdict::Allowed(entry) => Decision::Allowed(entry.to_string()),
            Verdict::SafeSearch(rewrite) => Decision::SafeSearch {
                engine: rewrite.engine.to_string(),
                target: rewrite.target.to_string(),
            },
            Verdict::Match(hit) => Decision::Match {
                feed: hit.feed.name().to_owned(),
                serial: hit.feed.serial(),
                version: hit.feed.version(),
                trigger_kind: hit.rule.kind.to_string(),
                trigger: hit.rule.trigger_text(),
                line: hit.rule.line,
                rule_action: hit.rule.action.to_string(),
                action: format!("{:?}", hit.action)
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .to_uppercase(),
                ede: hit.ede,
                extra_text: hit.extra_text(),
            },
        };
        let answer = describe(&synthesize(&verdict, name, rtype));
        Explanation {
            name: name.to_string(),
            rtype,
            profile: profile.name.clone(),
            selection,
            local_time: format!(
                "{} ({})",
                format_local(&profile.time_zone, time),
                profile.time_zone_name
            ),
            feeds,
            decision,
            answer,
            response_triggers_pending: verdict.passes() && self.needs_response_phase(profile_id),
        }
    }
}

fn describe(synthesis: &Synthesis) -> String {
    match synthesis {
        Synthesis::Resolve => "resolved normally".to_owned(),
        Synthesis::Drop => "no answer (dropped)".to_owned(),
        Synthesis::Truncate => "TC over UDP (retry over TCP)".to_owned(),
        Synthesis::Answer {
            rcode,
            answers,
            authority,
            follow,
            ..
        } => {
            let mut text = format!("{rcode:?}");
            for record in answers {
                text.push_str(&format!(
                    ", {} {} {}",
                    record.rtype,
                    record.ttl,
                    hanse_zone::format_rdata(record.rtype, &record.data)
                ));
            }
            if answers.is_empty() && !authority.is_empty() {
                text.push_str(" with the policy zone's SOA");
            }
            if let Some(target) = follow {
                text.push_str(&format!(" (then resolve {target})"));
            }
            text
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "query:    {} {}", self.name, self.rtype)?;
        writeln!(f, "profile:  {} ({})", self.profile, self.selection)?;
        writeln!(f, "time:     {}", self.local_time)?;
        for feed in &self.feeds {
            if feed.active {
                writeln!(f, "feed:     {} active", feed.feed)?;
            } else {
                writeln!(f, "feed:     {} inactive: {}", feed.feed, feed.note)?;
            }
        }
        match &self.decision {
            Decision::Pass => writeln!(f, "decision: pass (no rule matched)")?,
            Decision::Allowed(entry) => writeln!(f, "decision: pass (allowlist entry {entry})")?,
            Decision::SafeSearch { engine, target } => {
                writeln!(f, "decision: safe search for {engine}, CNAME {target}")?;
            }
            Decision::Match {
                feed,
                serial,
                version,
                trigger_kind,
                trigger,
                line,
                rule_action,
                action,
                ede,
                extra_text,
            } => {
                writeln!(f, "decision: {action}")?;
                write!(f, "rule:     {trigger_kind} {trigger}")?;
                if let Some(line) = line {
                    write!(f, " (line {line})")?;
                }
                writeln!(f, " -> {rule_action}")?;
                match serial {
                    Some(serial) => {
                        writeln!(f, "feed:     {feed} serial {serial} version {version}")?
                    }
                    None => writeln!(f, "feed:     {feed} version {version}")?,
                }
                if let Some(ede) = ede {
                    writeln!(f, "ede:      {ede} \"{extra_text}\"")?;
                }
            }
        }
        writeln!(f, "answer:   {}", self.answer)?;
        if self.response_triggers_pending {
            writeln!(
                f,
                "note:     the profile has RESPONSE-IP/NSDNAME/NSIP triggers, checked only after resolution"
            )?;
        }
        Ok(())
    }
}
