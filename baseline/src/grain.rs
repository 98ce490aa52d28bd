//! Orleans-style virtual actors ("grains") on kameo actors. A grain is addressed by its type and
//! key, is activated by its first message, and handles one message at a time (kameo's mailbox
//! loop: a turn runs to completion, awaits included, before the next message starts).
//! Requests (`ask`) wait for the grain's answer; one-way messages (`tell`) go through the silo,
//! which counts them for quiescence and may delay them (injected jitter).

use crate::effects::{self, Effects};
use crate::silo::{PendingOneWay, Silo, SiloError};
use kameo::actor::{Actor, ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::mailbox;
use kameo::message::{Context, Message};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::fmt::Debug;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Weak};

/// The application's world: every grain directory and the silo they live on.
pub trait World: Send + Sync + 'static {
    fn silo(&self) -> &Silo;
}

/// A grain type.
pub trait Grain: Sized + Send + 'static {
    /// The service the grain belongs to: messages between services are the ones injected
    /// jitter delays (a cart and its product replica are one service, say).
    const SERVICE: &'static str;
    type Key: Clone + Eq + Hash + Debug + Send + Sync + 'static;
    type World: World;
    /// Where the world keeps this type's activations.
    fn directory(world: &Self::World) -> &Directory<Self>;
    /// The grain's state when it is activated (Orleans would read it from grain storage).
    fn activate(key: &Self::Key, world: &Self::World) -> Self;
}

/// A grain's handler of message type `M` (one per message type, like a grain interface method).
pub trait Handles<M: Send + 'static>: Grain {
    type Reply: Send + 'static;
    fn handle(
        &mut self,
        msg: M,
        world: &Arc<Self::World>,
    ) -> impl Future<Output = Self::Reply> + Send;
}

/// The kameo actor that hosts one activation. It holds its world weakly: the world's directories
/// hold the activations, so a strong reference would keep the world (and every grain) alive.
pub struct Activation<G: Grain> {
    grain: G,
    world: Weak<G::World>,
}

/// The world was dropped while a message was on its way.
#[derive(Debug)]
pub struct WorldGone;

impl<G: Grain> Actor for Activation<G> {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(args)
    }
}

/// A request: the caller waits for the reply. Carries the traced operation it is part of.
pub struct Ask<M>(M, Option<Effects>);

/// A one-way message: counted by the silo from send until handled (or dropped undelivered).
pub struct Tell<M>(M, PendingOneWay, Option<Effects>);

tokio::task_local! {
    /// The service whose grain is handling a message on this task (unset at the front door).
    static CALLER: &'static str;
}

impl<G: Handles<M>, M: Send + 'static> Message<Ask<M>> for Activation<G> {
    type Reply = Result<G::Reply, WorldGone>;

    async fn handle(
        &mut self,
        Ask(msg, traced): Ask<M>,
        _: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        let world = self.world.upgrade().ok_or(WorldGone)?;
        let turn = effects::traced(traced, self.grain.handle(msg, &world));
        Ok(CALLER.scope(G::SERVICE, turn).await)
    }
}

impl<G: Handles<M>, M: Send + 'static> Message<Tell<M>> for Activation<G> {
    type Reply = ();

    async fn handle(&mut self, Tell(msg, pending, traced): Tell<M>, _: &mut Context<Self, ()>) {
        if let Some(world) = self.world.upgrade() {
            let turn = effects::traced(traced, self.grain.handle(msg, &world));
            CALLER.scope(G::SERVICE, turn).await;
        }
        drop(pending); // handled to the end, one-way messages it sent included in the count
    }
}

const SHARDS: usize = 64;

type Shard<G> = Mutex<FxHashMap<<G as Grain>::Key, ActorRef<Activation<G>>>>;

/// The activations of one grain type, by key (sharded so activation lookups rarely contend).
pub struct Directory<G: Grain> {
    shards: Box<[Shard<G>]>,
}

impl<G: Grain> Default for Directory<G> {
    fn default() -> Self {
        Directory {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl<G: Grain> Directory<G> {
    fn shard(&self, key: &G::Key) -> &Shard<G> {
        let h = rustc_hash::FxBuildHasher.hash_one(key);
        &self.shards[(h as usize) % SHARDS]
    }

    /// The grain's activation, activated now if this is its first message. Must run inside the
    /// silo's runtime (a handler, a spawned task, or under `Silo::enter`).
    fn get(&self, key: &G::Key, world: &Arc<G::World>) -> ActorRef<Activation<G>> {
        let mut shard = self.shard(key).lock();
        if let Some(a) = shard.get(key) {
            return a.clone();
        }
        let activation = Activation {
            grain: G::activate(key, world),
            world: Arc::downgrade(world),
        };
        // Unbounded, as Orleans' queues: a one-way send never waits, so grains that tell each
        // other can never deadlock on full mailboxes.
        let a = Activation::spawn_with_mailbox(activation, mailbox::unbounded());
        shard.insert(key.clone(), a.clone());
        a
    }

    /// Activates grain `key` now, if it is not active yet (a warm start, like grains that a
    /// warm-up has touched). Must run inside the silo's runtime, as `get`.
    pub fn activate(&self, key: &G::Key, world: &Arc<G::World>) {
        self.get(key, world);
    }

    /// Every key activated so far.
    pub fn activated(&self) -> Vec<G::Key> {
        self.shards
            .iter()
            .flat_map(|s| s.lock().keys().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// How many grains of this type are active.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The service sending from this task, if a grain's turn is running on it.
fn caller() -> Option<&'static str> {
    CALLER.try_with(|s| *s).ok()
}

/// Sends `msg` to grain `key` of type `G` and waits for its reply. The grain is found (or
/// activated) at the call, which must run inside the silo's runtime (a grain's turn, a task
/// spawned on the silo, or under `Silo::enter`), so the returned future borrows nothing. With injected jitter, a
/// request from another service (or the front door) and a reply to another service are delayed.
pub fn ask<G, M>(
    world: &Arc<G::World>,
    key: &G::Key,
    msg: M,
) -> impl Future<Output = Result<G::Reply, SiloError>> + Send + use<G, M>
where
    G: Handles<M>,
    M: Send + 'static,
{
    let a = G::directory(world).get(key, world);
    let key = key.clone();
    let from = caller();
    let crosses = from != Some(G::SERVICE);
    let world = Arc::clone(world);
    let traced = effects::current();
    async move {
        let silo = world.silo();
        if crosses && let Some(d) = silo.request_delay() {
            silo.sleep(d).await;
        }
        let reply = a
            .ask(Ask(msg, traced))
            .await
            .map_err(|_| SiloError::GrainGone(format!("{}{key:?}", short_name::<G>())))?;
        if crosses
            && from.is_some()
            && let Some(d) = silo.request_delay()
        {
            silo.sleep(d).await;
        }
        Ok(reply)
    }
}

/// The sender of messages sent from outside any grain (the driver, the front door).
const FRONT_DOOR: &str = "front-door";

/// Sends `msg` to grain `key` of type `G` one way: the sender goes on at once. With injected
/// jitter a message between services is delivered after a random delay, after every earlier
/// message of the same link (sending service, receiving service) unless `Jitter::reorder`.
pub fn tell<G, M>(world: &Arc<G::World>, key: &G::Key, msg: M)
where
    G: Handles<M>,
    M: Send + 'static,
{
    let silo = world.silo();
    let tell = Tell(msg, silo.one_way_sent(), effects::current());
    let a = G::directory(world).get(key, world);
    let from = caller();
    // A refused send drops the message, and with it its pending count.
    if from != Some(G::SERVICE) && silo.injects() {
        let deliver = Box::new(move || {
            let _ = a.tell(tell).try_send();
        });
        silo.deliver_later(from.unwrap_or(FRONT_DOOR), G::SERVICE, deliver);
    } else {
        let _ = a.tell(tell).try_send();
    }
}

fn short_name<G>() -> &'static str {
    let full = std::any::type_name::<G>();
    full.rsplit("::").next().unwrap_or(full)
}
