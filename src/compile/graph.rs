//! The step DAG: order, parallel waves, ancestry and cycles.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use fixedbitset::FixedBitSet;
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Steps as nodes (by their index in the runbook), `needs` as edges need → step.
#[derive(Debug)]
pub struct Dag {
    graph: DiGraph<(), ()>,
}

impl Dag {
    /// `needs[i]` lists the steps step `i` waits for.
    pub fn new(needs: &[Vec<usize>]) -> Self {
        let mut graph = DiGraph::with_capacity(needs.len(), needs.iter().map(Vec::len).sum());
        for _ in needs {
            graph.add_node(());
        }
        for (step, deps) in needs.iter().enumerate() {
            for &dep in deps {
                graph.update_edge(NodeIndex::new(dep), NodeIndex::new(step), ());
            }
        }
        Self { graph }
    }

    /// Every dependency cycle, each as the steps on it in order, starting at
    /// the one written first.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut cycles = Vec::new();
        for component in tarjan_scc(&self.graph) {
            let self_loop =
                component.len() == 1 && self.graph.contains_edge(component[0], component[0]);
            if component.len() > 1 || self_loop {
                cycles.push(self.cycle_through(&component));
            }
        }
        cycles.sort();
        cycles
    }

    /// A simple cycle inside a strongly connected component.
    fn cycle_through(&self, component: &[NodeIndex]) -> Vec<usize> {
        let mut inside = FixedBitSet::with_capacity(self.graph.node_count());
        for n in component {
            inside.insert(n.index());
        }
        let start = *component.iter().min().unwrap_or(&component[0]);
        // Walk forward inside the component until a node repeats.
        let mut path = vec![start];
        let mut seen_at = vec![usize::MAX; self.graph.node_count()];
        seen_at[start.index()] = 0;
        let mut current = start;
        loop {
            let next = self
                .graph
                .neighbors_directed(current, Direction::Outgoing)
                .filter(|n| inside.contains(n.index()))
                .min()
                .unwrap_or(start);
            if seen_at[next.index()] != usize::MAX {
                let cycle: Vec<usize> = path[seen_at[next.index()]..]
                    .iter()
                    .map(|n| n.index())
                    .collect();
                let first = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| **n)
                    .map_or(0, |(i, _)| i);
                return cycle[first..]
                    .iter()
                    .chain(&cycle[..first])
                    .copied()
                    .collect();
            }
            seen_at[next.index()] = path.len();
            path.push(next);
            current = next;
        }
    }

    /// A topological order that keeps the file's order wherever it can, and
    /// each step's wave: 1 + the latest wave among its needs. Only for acyclic graphs.
    pub fn schedule(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.graph.node_count();
        let mut waiting: Vec<usize> = (0..n)
            .map(|i| {
                self.graph
                    .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        let mut wave = vec![1; n];
        while let Some(Reverse(step)) = ready.pop() {
            order.push(step);
            for next in self
                .graph
                .neighbors_directed(NodeIndex::new(step), Direction::Outgoing)
            {
                let next = next.index();
                wave[next] = wave[next].max(wave[step] + 1);
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        (order, wave)
    }

    /// Whether `ancestor` must finish before `step` starts.
    pub fn is_ancestor(&self, ancestor: usize, step: usize) -> bool {
        self.nearest_ancestor(step, |a| a == ancestor).is_some()
    }

    /// The ancestor of `step` closest to it (breadth first) that satisfies `matches`.
    pub fn nearest_ancestor(
        &self,
        step: usize,
        mut matches: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut seen = FixedBitSet::with_capacity(self.graph.node_count());
        let mut queue = std::collections::VecDeque::from([step]);
        seen.insert(step);
        while let Some(current) = queue.pop_front() {
            for parent in self
                .graph
                .neighbors_directed(NodeIndex::new(current), Direction::Incoming)
            {
                let parent = parent.index();
                if seen.put(parent) {
                    continue;
                }
                if matches(parent) {
                    return Some(parent);
                }
                queue.push_back(parent);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_in_waves_keeping_file_order() {
        // 0 → 2, 1 → 2, 2 → 3
        let dag = Dag::new(&[vec![], vec![], vec![0, 1], vec![2]]);
        assert!(dag.cycles().is_empty());
        assert_eq!(dag.schedule(), (vec![0, 1, 2, 3], vec![1, 1, 2, 3]));
        assert!(dag.is_ancestor(0, 3));
        assert!(!dag.is_ancestor(3, 0));
        assert!(!dag.is_ancestor(0, 1));
    }

    #[test]
    fn names_every_step_on_a_cycle() {
        // 0 → 1 → 2 → 0, and 3 needs itself.
        let dag = Dag::new(&[vec![2], vec![0], vec![1], vec![3]]);
        assert_eq!(dag.cycles(), vec![vec![0, 1, 2], vec![3]]);
    }
}
