//! Records the crate's tests build their zones from: names, the SOA of a
//! zone with a given serial, and an RPZ rule (`owner CNAME .`). Test code
//! only.

use hanse_wire::{Class, Name, RType, Record};

/// `text` as a name; the tests' names are valid.
pub(crate) fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// The SOA of `zone` (`ns.ZONE`, `hostmaster.ZONE`, refresh 3600, retry
/// 600, expire 86400, minimum 60) with `serial`.
pub(crate) fn soa_of(zone: &str, serial: u32) -> Record {
    let mut data = name(&format!("ns.{zone}")).as_wire().to_vec();
    data.extend_from_slice(name(&format!("hostmaster.{zone}")).as_wire());
    for value in [serial, 3600, 600, 86400, 60] {
        data.extend_from_slice(&value.to_be_bytes());
    }
    Record {
        name: name(zone),
        rtype: RType::SOA,
        class: Class::IN,
        ttl: 300,
        data: data.into(),
    }
}

/// An RPZ rule that answers NXDOMAIN for `owner`.
pub(crate) fn rule(owner: &str) -> Record {
    Record {
        name: name(owner),
        rtype: RType::CNAME,
        class: Class::IN,
        ttl: 300,
        data: Name::root().as_wire().into(),
    }
}
