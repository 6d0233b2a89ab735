//! Writer/reader matching: topic, type, partitions, then requested-versus-offered QoS.

use super::{EndpointInfo, Partitions};
use crate::event::QosPolicy;
use crate::wire::DataRepresentations;

/// The outcome of comparing a writer with a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchResult {
    /// Different topic, type or partitions: nothing to say.
    Unrelated,
    /// They match.
    Match,
    /// Same topic, but a QoS policy is incompatible.
    Incompatible(QosPolicy),
}

/// `*` matches any run, `?` any one character. Iterative, backtracking only to the last `*`:
/// O(pattern × text) whatever the input (remote partition names are untrusted).
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && p[pi] == s[si])) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            // Let the last star swallow one more character and retry.
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn is_pattern(s: &str) -> bool {
    s.bytes().any(|b| b == b'*' || b == b'?')
}

fn partition_pair(a: &str, b: &str) -> bool {
    match (is_pattern(a), is_pattern(b)) {
        (false, false) => a == b,
        (true, false) => glob(a.as_bytes(), b.as_bytes()),
        (false, true) => glob(b.as_bytes(), a.as_bytes()),
        // Two patterns never match (as in Cyclone).
        (true, true) => false,
    }
}

fn partitions_match(a: &Partitions, b: &Partitions) -> bool {
    // An empty list is the default partition "".
    match (a.is_empty(), b.is_empty()) {
        (true, true) => true,
        (true, false) => b.iter().any(|y| partition_pair("", y)),
        (false, true) => a.iter().any(|x| partition_pair(x, "")),
        (false, false) => a.iter().any(|x| b.iter().any(|y| partition_pair(x, y))),
    }
}

fn first_representation(d: &EndpointInfo) -> i16 {
    if d.has_data_representation {
        d.data_representation
            .as_slice()
            .first()
            .copied()
            .unwrap_or(DataRepresentations::XCDR1)
    } else {
        DataRepresentations::XCDR1
    }
}

fn accepts_representation(reader: &EndpointInfo, id: i16) -> bool {
    if !reader.has_data_representation || reader.data_representation.as_slice().is_empty() {
        return id == DataRepresentations::XCDR1;
    }
    reader.data_representation.as_slice().contains(&id)
}

/// Compares a writer and a reader (either may be local or remote).
pub(crate) fn check_match(w: &EndpointInfo, r: &EndpointInfo) -> MatchResult {
    if w.topic != r.topic
        || w.type_name != r.type_name
        || !partitions_match(&w.partitions, &r.partitions)
    {
        return MatchResult::Unrelated;
    }
    let policy = if w.keyed != r.keyed {
        Some(QosPolicy::TopicKind)
    } else if r.reliability > w.reliability {
        Some(QosPolicy::Reliability)
    } else if r.durability > w.durability {
        Some(QosPolicy::Durability)
    } else if r.deadline_us < w.deadline_us {
        Some(QosPolicy::Deadline)
    } else if r.liveliness_us < w.liveliness_us {
        Some(QosPolicy::Liveliness)
    } else if r.exclusive_ownership != w.exclusive_ownership {
        Some(QosPolicy::Ownership)
    } else if !accepts_representation(r, first_representation(w)) {
        Some(QosPolicy::DataRepresentation)
    } else {
        None
    };
    match policy {
        Some(p) => MatchResult::Incompatible(p),
        None => MatchResult::Match,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob(b"a*", b"abc"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(partition_pair("x*", "xy"));
        // A hostile pattern costs time linear in its length, not exponential.
        let evil = [b'*'; 63];
        assert!(!glob(
            &[&evil[..], b"x"].concat(),
            b"abcdefghijklmnopqrstuvwy"
        ));
        assert!(glob(b"*a*b*c", b"zzazzbzzc"));
        assert!(!partition_pair("x*", "y*"));
    }
}
