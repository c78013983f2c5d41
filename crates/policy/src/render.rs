//! Feeds rendered as response policy zones (draft-ietf-dnsop-dns-rpz), so a
//! primary can serve every loaded feed by zone transfer and any RPZ-capable
//! resolver can follow it.
//!
//! - A policy zone: its rules as [`Feed::records`] rebuilds them, owners
//!   moved from the feed's origin to the served zone.
//! - A list (hosts, domains, adblock), below the served zone:
//!   - a block entry for exactly a name: `name CNAME .` (NXDOMAIN);
//!   - a block entry for a name and its subdomains (domain lists, adblock
//!     `||name^`): `name CNAME .` and `*.name CNAME .`;
//!   - a wildcard entry (`*.name` in a domain list): `*.name CNAME .`;
//!   - a hosts entry with a real address: its A or AAAA records;
//!   - an adblock exception `@@||name^`: `name CNAME rpz-passthru.` and
//!     `*.name CNAME rpz-passthru.`.
//!
//! # Limitations
//! - A list's block entries take the profile's block answer in Hanse; as
//!   RPZ they become NXDOMAIN (`CNAME .`), the usual meaning of RPZ feeds.
//! - In adblock, an exception wins over every block rule of the list; RPZ
//!   prefers the exact name and the longest wildcard. Block entries at or
//!   below an exception are therefore left out of the rendering.
//! - Records are rendered with the list TTL ([`crate::LIST_TTL`]).

use crate::feed::{ActionEntry, Feed, FeedFormat, LIST_ACTION_FLAG, PolicyAction};
use crate::lists::LIST_TTL;
use hanse_wire::{Class, Name, RType, Record};
use std::collections::HashSet;

/// `rpz-passthru.` in wire form.
const PASSTHRU_TARGET: &[u8] = b"\x0crpz-passthru\x00";

impl Feed {
    /// The feed's rules as the records of a policy zone named `zone`, the
    /// SOA and apex records excluded (the server adds its own SOA). See the
    /// module documentation of `render` for the rendering of lists. Rules
    /// whose owner would be too long below `zone` are left out.
    pub fn rpz_records(&self, zone: &Name) -> Vec<Record> {
        if self.format == FeedFormat::Rpz {
            let Some(origin) = &self.origin else {
                return Vec::new();
            };
            return self
                .records()
                .into_iter()
                .filter(|record| record.rtype != RType::SOA)
                .filter_map(|record| {
                    let name = if origin == zone {
                        record.name.clone()
                    } else {
                        record.name.replace_suffix(origin, zone)?.ok()?
                    };
                    Some(Record { name, ..record })
                })
                .collect();
        }
        let mut records = Vec::new();
        let cname = |owner: Name, target: &[u8]| Record {
            name: owner,
            rtype: RType::CNAME,
            class: Class::IN,
            ttl: LIST_TTL,
            data: target.into(),
        };
        let exceptions: HashSet<&[u8]> = self.exceptions.iter().map(|(name, _, _)| name).collect();
        let below_exception = |wire: &[u8]| {
            let mut position = 0;
            while let Some(&length) = wire.get(position) {
                if exceptions.contains(&wire[position..]) {
                    return true;
                }
                if length == 0 {
                    break;
                }
                position += usize::from(length) + 1;
            }
            false
        };
        for (wire, value, subtree) in self.qname.iter() {
            if below_exception(wire) {
                continue;
            }
            let Some(owner) = owner_below(wire, zone) else {
                continue;
            };
            if value & LIST_ACTION_FLAG != 0 {
                if let Some(ActionEntry {
                    action: PolicyAction::LocalData(local),
                    ..
                }) = self.actions.get(value & !LIST_ACTION_FLAG)
                {
                    for local in local.iter() {
                        records.push(Record {
                            name: owner.clone(),
                            rtype: local.rtype,
                            class: Class::IN,
                            ttl: local.ttl,
                            data: local.data.clone(),
                        });
                    }
                }
                continue;
            }
            if subtree && let Ok(wildcard) = owner.prepend(b"*") {
                records.push(cname(wildcard, b"\x00"));
            }
            records.push(cname(owner, b"\x00"));
        }
        for (wire, _, _) in self.exceptions.iter() {
            let Some(owner) = owner_below(wire, zone) else {
                continue;
            };
            if let Ok(wildcard) = owner.prepend(b"*") {
                records.push(cname(wildcard, PASSTHRU_TARGET));
            }
            records.push(cname(owner, PASSTHRU_TARGET));
        }
        records
    }
}

/// `relative` (an absolute wire name relative to the zone) below `zone`.
fn owner_below(relative: &[u8], zone: &Name) -> Option<Name> {
    let mut wire = relative[..relative.len().saturating_sub(1)].to_vec();
    wire.extend_from_slice(zone.as_wire());
    Name::from_wire(&wire).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn texts(records: &[Record]) -> Vec<String> {
        let mut texts: Vec<String> = records
            .iter()
            .map(|record| {
                format!(
                    "{} {} {}",
                    record.name,
                    record.rtype,
                    hanse_zone::format_rdata(record.rtype, &record.data)
                )
            })
            .collect();
        texts.sort();
        texts
    }

    #[test]
    fn lists_render_as_policy_zones_that_compile_to_the_same_decisions() {
        let zone = name("ads.feeds.hanse.");
        let (hosts, _) = Feed::from_hosts("hosts", "0.0.0.0 ads.example\n192.0.2.7 printer.lan\n");
        assert_eq!(
            texts(&hosts.rpz_records(&zone)),
            vec![
                "ads.example.ads.feeds.hanse. CNAME .",
                "printer.lan.ads.feeds.hanse. A 192.0.2.7",
            ]
        );
        let (adblock, _) = Feed::from_adblock(
            "adblock",
            "||tracker.example^\n@@||good.example^\n||ads.good.example^\n",
        );
        assert_eq!(
            texts(&adblock.rpz_records(&zone)),
            vec![
                "*.good.example.ads.feeds.hanse. CNAME rpz-passthru.",
                "*.tracker.example.ads.feeds.hanse. CNAME .",
                "good.example.ads.feeds.hanse. CNAME rpz-passthru.",
                "tracker.example.ads.feeds.hanse. CNAME .",
            ]
        );
        let (domains, _) = Feed::from_domains("domains", "*.wild.example\n");
        assert_eq!(
            texts(&domains.rpz_records(&zone)),
            vec!["*.wild.example.ads.feeds.hanse. CNAME ."]
        );
    }

    #[test]
    fn policy_zones_move_to_the_served_zone() {
        let origin = name("rpz.example.");
        let soa =
            hanse_zone::parse_zone("@ SOA ns hostmaster 5 1 1 1 1\nbad CNAME .\n", &origin, 300)
                .unwrap();
        let (feed, _) = Feed::from_rpz("rpz", &origin, &soa);
        assert_eq!(
            texts(&feed.rpz_records(&origin)),
            vec!["bad.rpz.example. CNAME ."]
        );
        assert_eq!(
            texts(&feed.rpz_records(&name("other.zone."))),
            vec!["bad.other.zone. CNAME ."]
        );
    }
}
