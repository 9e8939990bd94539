//! Who listens to a run: the engine publishes one event stream
//! (docs/architecture.md §4) and every subscriber sees each event, in order,
//! when it happens. The journal is one (it must reach the disk before a step
//! starts, so subscribers are called synchronously); reporters and reports
//! are others.

use tokio::sync::mpsc::UnboundedSender;

use super::event::{Event, Stamped};

pub trait Subscriber: Send {
    /// Err: what this subscriber could not do with the event (a journal that
    /// cannot be written); the run reports it as an error and goes on.
    fn event(&mut self, event: &Stamped) -> Result<(), String>;
}

/// A channel of plain events, for a reporter task; a closed channel is ignored.
impl Subscriber for UnboundedSender<Event> {
    fn event(&mut self, event: &Stamped) -> Result<(), String> {
        let _ = self.send(event.event.clone());
        Ok(())
    }
}

/// A channel of timestamped events; a closed channel is ignored.
impl Subscriber for UnboundedSender<Stamped> {
    fn event(&mut self, event: &Stamped) -> Result<(), String> {
        let _ = self.send(event.clone());
        Ok(())
    }
}

/// The subscribers of one run.
#[derive(Default)]
pub struct Subscribers(Vec<Box<dyn Subscriber>>);

impl Subscribers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, subscriber: impl Subscriber + 'static) -> Self {
        self.add(subscriber);
        self
    }

    pub fn add(&mut self, subscriber: impl Subscriber + 'static) {
        self.0.push(Box::new(subscriber));
    }

    /// Hands `event` to every subscriber; returns what they could not do.
    pub fn publish(&mut self, event: &Stamped) -> Vec<String> {
        self.0
            .iter_mut()
            .filter_map(|s| s.event(event).err())
            .collect()
    }
}
