//! The leader's plan for one round: which free leases go to whom, and which held leases
//! move, so that every live worker has its share (a pure function: [`plan`]).
//!
//! # Rules
//!
//! * Only active leases count (not `SHARD_END`). A lease mid-handoff counts for its new
//!   owner and never moves again before the handoff completed.
//! * **Free leases** (unowned, or owned by a dead worker) go one by one, heaviest first, to
//!   the live worker with the least (load, or count when loads are unknown), never above
//!   `max_per_worker`.
//! * **Moves** (graceful handoffs), at most `max_moves` per round, never of a lease in
//!   `frozen` (moved recently, so that the fleet does not thrash):
//!   * by **load** when every lease held by a live worker has a known load and the total
//!     is positive: while the most loaded worker is above `mean × (1 + tolerance)` or the
//!     least loaded below `mean × (1 − tolerance)`, make the move (any lease, any receiver)
//!     that lowers the sum of squared worker loads the most, if any does;
//!   * otherwise by **count**: while the fullest worker holds two or more leases more than
//!     the emptiest, move one from the fullest to the emptiest.
//!
//! Leases owned by workers that are neither live nor known to be dead (a Java KCL worker
//! sharing the table, a worker not seen yet) are left alone and not counted.

use super::Lease;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A lease's measured load (see [`Lease::load`]) as the planner weighs it: bytes per second,
/// records per second breaking ties.
pub fn weight(lease: &Lease) -> Option<f64> {
    lease
        .load
        .map(|l| l.bytes_per_second as f64 + l.records_per_second as f64 / 1024.0)
}

/// What one round does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Free leases to take for a worker: (lease key, worker).
    pub assign: Vec<(String, String)>,
    /// Planned moves by handoff: (lease key, from, to).
    pub moves: Vec<(String, String, String)>,
    /// Whether the moves were planned by load (else by count).
    pub by_load: bool,
}

/// The inputs of [`plan`] besides the leases.
#[derive(Debug, Clone)]
pub struct Fleet<'a> {
    /// The live workers.
    pub live: &'a BTreeSet<String>,
    /// Leases that are free to assign (unowned, or their owner is dead).
    pub free: &'a HashSet<String>,
    /// Leases that must not move this round.
    pub frozen: &'a HashSet<String>,
    /// Most leases per worker.
    pub max_per_worker: usize,
    /// Most moves per round.
    pub max_moves: usize,
    /// The load tolerance around the mean (0.15: within 15 %).
    pub tolerance: f64,
}

/// One round's plan (see the module docs).
pub fn plan(leases: &[Lease], fleet: &Fleet<'_>) -> Plan {
    let mut out = Plan::default();
    if fleet.live.is_empty() {
        return out;
    }
    let active: Vec<&Lease> = leases.iter().filter(|l| !l.is_shard_end()).collect();
    let known: Vec<f64> = active.iter().filter_map(|l| weight(l)).collect();
    let mean_lease = if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let w = |l: &Lease| weight(l).unwrap_or(mean_lease);
    let mut count: BTreeMap<&str, usize> = fleet.live.iter().map(|x| (x.as_str(), 0)).collect();
    let mut load: BTreeMap<&str, f64> = fleet.live.iter().map(|x| (x.as_str(), 0.0)).collect();
    let mut held: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
    let mut all_known = true;
    let mut free: Vec<&Lease> = Vec::new();
    for l in &active {
        if fleet.free.contains(&l.lease_key) {
            free.push(l);
            continue;
        }
        let Some(owner) = l.lease_owner.as_deref() else {
            continue;
        };
        let Some(c) = count.get_mut(owner) else {
            continue; // not ours to balance
        };
        *c += 1;
        *load.entry(owner).or_default() += w(l);
        all_known &= l.load.is_some();
        if l.checkpoint_owner.is_none() && !fleet.frozen.contains(&l.lease_key) {
            held.entry(owner).or_default().push(l);
        }
    }
    let by_load = all_known && mean_lease > 0.0;
    out.by_load = by_load;
    // Free leases, heaviest first, to the least loaded (or emptiest) worker.
    free.sort_by(|a, b| w(b).total_cmp(&w(a)).then(a.lease_key.cmp(&b.lease_key)));
    for l in free {
        let pick = count
            .iter()
            .filter(|(_, c)| **c < fleet.max_per_worker)
            .min_by(|(a, ca), (b, cb)| {
                let key = |x: &str, c: usize| {
                    if by_load {
                        (load.get(x).copied().unwrap_or(0.0), c)
                    } else {
                        (c as f64, c)
                    }
                };
                let (la, na) = key(a, **ca);
                let (lb, nb) = key(b, **cb);
                la.total_cmp(&lb).then(na.cmp(&nb)).then(a.cmp(b))
            })
            .map(|(x, _)| *x);
        let Some(to) = pick else { break };
        *count.entry(to).or_default() += 1;
        *load.entry(to).or_default() += w(l);
        out.assign.push((l.lease_key.clone(), to.to_owned()));
    }
    // Moves.
    let total: f64 = load.values().sum();
    let mean = total / fleet.live.len() as f64;
    for _ in 0..fleet.max_moves {
        let mv = if by_load {
            let (Some((_, hi)), Some((_, lo))) = (max_by_value(&load), min_by_value(&load)) else {
                break;
            };
            if hi <= mean * (1.0 + fleet.tolerance) && lo >= mean * (1.0 - fleet.tolerance) {
                break;
            }
            best_load_move(&held, &load, &count, fleet.max_per_worker, &w)
        } else {
            count_move(&held, &count, fleet.max_per_worker)
        };
        let Some((from, i, to)) = mv else { break };
        let Some(candidates) = held.get_mut(from) else {
            break;
        };
        let l = candidates.remove(i);
        let x = w(l);
        *load.entry(from).or_default() -= x;
        *load.entry(to).or_default() += x;
        *count.entry(from).or_default() -= 1;
        *count.entry(to).or_default() += 1;
        out.moves
            .push((l.lease_key.clone(), from.to_owned(), to.to_owned()));
    }
    out
}

/// The move (from, index in `held[from]`, to) that lowers the sum of squared worker loads
/// the most: moving `x` from a worker at `a` to one at `b` lowers it by `2x(a − b − x)`,
/// so only `x < a − b` helps.
fn best_load_move<'a>(
    held: &BTreeMap<&'a str, Vec<&Lease>>,
    load: &BTreeMap<&'a str, f64>,
    count: &BTreeMap<&'a str, usize>,
    max_per_worker: usize,
    w: &impl Fn(&Lease) -> f64,
) -> Option<(&'a str, usize, &'a str)> {
    let mut best: Option<(f64, &'a str, usize, &'a str)> = None;
    for (from, leases) in held {
        let a = load.get(from).copied().unwrap_or(0.0);
        for (i, l) in leases.iter().enumerate() {
            let x = w(l);
            if x <= 0.0 {
                continue;
            }
            for (to, b) in load {
                if to == from || count.get(to).copied().unwrap_or(0) >= max_per_worker {
                    continue;
                }
                let gain = x * (a - b - x);
                if gain > 0.0 && best.is_none_or(|(g, ..)| gain > g) {
                    best = Some((gain, from, i, to));
                }
            }
        }
    }
    best.map(|(_, from, i, to)| (from, i, to))
}

/// A move from the fullest to the emptiest worker, while they differ by two or more.
fn count_move<'a>(
    held: &BTreeMap<&'a str, Vec<&Lease>>,
    count: &BTreeMap<&'a str, usize>,
    max_per_worker: usize,
) -> Option<(&'a str, usize, &'a str)> {
    let (from, hi) = count
        .iter()
        .filter(|(x, _)| held.get(*x).is_some_and(|v| !v.is_empty()))
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))?;
    let (to, lo) = count
        .iter()
        .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))?;
    (hi.saturating_sub(*lo) > 1 && from != to && *lo < max_per_worker).then_some((*from, 0, *to))
}

fn max_by_value<'a>(m: &BTreeMap<&'a str, f64>) -> Option<(&'a str, f64)> {
    m.iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, v)| (*k, *v))
}

fn min_by_value<'a>(m: &BTreeMap<&'a str, f64>) -> Option<(&'a str, f64)> {
    m.iter()
        .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)))
        .map(|(k, v)| (*k, *v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::ShardLoad;

    fn lease(i: usize, owner: Option<&str>, load: Option<u64>) -> Lease {
        let mut l = Lease::new(
            format!("shardId-{i:012}"),
            crate::ExtendedSequenceNumber::trim_horizon(),
        );
        l.lease_owner = owner.map(str::to_owned);
        l.load = load.map(|b| ShardLoad {
            bytes_per_second: b,
            records_per_second: b / 100,
        });
        l
    }

    fn live(ws: &[&str]) -> BTreeSet<String> {
        ws.iter().map(|w| w.to_string()).collect()
    }

    fn fleet<'a>(
        live: &'a BTreeSet<String>,
        free: &'a HashSet<String>,
        frozen: &'a HashSet<String>,
        max_moves: usize,
    ) -> Fleet<'a> {
        Fleet {
            live,
            free,
            frozen,
            max_per_worker: usize::MAX,
            max_moves,
            tolerance: 0.15,
        }
    }

    /// The leases per worker after applying `p`.
    fn apply(leases: &mut [Lease], p: &Plan) {
        for l in leases.iter_mut() {
            if let Some((_, w)) = p.assign.iter().find(|(k, _)| *k == l.lease_key) {
                l.lease_owner = Some(w.clone());
            }
            if let Some((_, _, to)) = p.moves.iter().find(|(k, _, _)| *k == l.lease_key) {
                l.lease_owner = Some(to.clone());
            }
        }
    }

    #[test]
    fn free_leases_spread_evenly_by_count() {
        let leases: Vec<Lease> = (0..10).map(|i| lease(i, None, None)).collect();
        let free: HashSet<String> = leases.iter().map(|l| l.lease_key.clone()).collect();
        let none = HashSet::new();
        let ws = live(&["a", "b", "c"]);
        let p = plan(&leases, &fleet(&ws, &free, &none, 5));
        assert_eq!(p.assign.len(), 10);
        assert!(p.moves.is_empty());
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for (_, w) in &p.assign {
            *per.entry(w.clone()).or_default() += 1;
        }
        let counts: Vec<usize> = per.values().copied().collect();
        assert_eq!(counts.iter().sum::<usize>(), 10);
        assert!(counts.iter().max() <= Some(&4) && counts.iter().min() >= Some(&3));
    }

    #[test]
    fn count_moves_are_capped_and_converge() {
        let mut leases: Vec<Lease> = (0..12).map(|i| lease(i, Some("a"), None)).collect();
        let none = HashSet::new();
        let ws = live(&["a", "b", "c"]);
        let p = plan(&leases, &fleet(&ws, &none, &none, 3));
        assert_eq!(p.moves.len(), 3, "capped");
        apply(&mut leases, &p);
        for _ in 0..5 {
            let p = plan(&leases, &fleet(&ws, &none, &none, 3));
            apply(&mut leases, &p);
        }
        let per = |w: &str| {
            leases
                .iter()
                .filter(|l| l.lease_owner.as_deref() == Some(w))
                .count()
        };
        assert_eq!((per("a"), per("b"), per("c")), (4, 4, 4));
        assert!(plan(&leases, &fleet(&ws, &none, &none, 3)).moves.is_empty());
    }

    #[test]
    fn skewed_load_is_balanced_within_tolerance() {
        // 16 shards, 4 of them at 10x, all on two workers of four.
        let mut leases: Vec<Lease> = (0..16)
            .map(|i| {
                let owner = if i % 2 == 0 { "a" } else { "b" };
                lease(i, Some(owner), Some(if i < 4 { 10_000 } else { 1_000 }))
            })
            .collect();
        let none = HashSet::new();
        let ws = live(&["a", "b", "c", "d"]);
        for _ in 0..20 {
            let p = plan(&leases, &fleet(&ws, &none, &none, 2));
            assert!(p.by_load);
            if p.moves.is_empty() {
                break;
            }
            apply(&mut leases, &p);
        }
        let total: f64 = leases.iter().filter_map(weight).sum();
        let mean = total / 4.0;
        for w in ["a", "b", "c", "d"] {
            let l: f64 = leases
                .iter()
                .filter(|l| l.lease_owner.as_deref() == Some(w))
                .filter_map(weight)
                .sum();
            assert!((l - mean).abs() <= 0.15 * mean, "{w}: {l} vs mean {mean}");
        }
    }

    #[test]
    fn handoffs_frozen_and_foreign_leases_do_not_move() {
        let mut leases: Vec<Lease> = (0..6).map(|i| lease(i, Some("a"), None)).collect();
        leases[0].checkpoint_owner = Some("x".into()); // mid-handoff
        leases.push(lease(9, Some("java-worker"), None));
        let frozen: HashSet<String> = [leases[1].lease_key.clone()].into();
        let none = HashSet::new();
        let ws = live(&["a", "b"]);
        let p = plan(&leases, &fleet(&ws, &none, &frozen, 10));
        let moved: HashSet<&str> = p.moves.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(p.moves.len(), 3);
        assert!(!moved.contains(leases[0].lease_key.as_str()));
        assert!(!moved.contains(leases[1].lease_key.as_str()));
        assert!(!moved.contains(leases[6].lease_key.as_str()));
    }
}
