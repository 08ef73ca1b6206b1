//! Credentials that verified, so a token's signature and preimage are checked
//! once, not on every request.
//!
//! **Keyed on what the token is, not how it was spelled.** The key is the
//! canonical identity of a parsed credential: its token id, its macaroon
//! signature and its preimage (96 bytes). Every spelling of one credential
//! (the `LSAT` or `L402` scheme, either base64 alphabet, with or without
//! padding, extra spaces) parses to the same key, so it occupies one entry.
//! The signature covers the identifier and every caveat, so a token with a
//! caveat added is another key: it is a separate entry and counts against
//! the same byte bound. Only credentials that passed full verification are
//! inserted, but one paid token can be narrowed into any number of genuine
//! variants without paying again: that is why the bound is in bytes and
//! eviction is gradual, not why the cache is safe to leave unbounded.
//!
//! **A real hash.** Keys are hashed with SipHash (`std`'s `RandomState`,
//! randomly keyed per cache); an entry is found by that 64-bit hash and then
//! compared on all 96 bytes, so a hash collision is only ever a miss.
//!
//! **Bounded in bytes, evicted gradually.** The cache is split into
//! [`SHARDS`] shards, each with an equal share of the byte budget. Each entry
//! is charged [`TokenCache::entry_cost`] bytes: the slot (key, token, hash;
//! about 220 bytes), its index entry (about 24 bytes) and its caveats (the
//! shared array and each caveat's text, with allocator overhead): about 560
//! bytes for a layer token with three caveats. When an insertion would pass
//! a shard's budget, that shard evicts with CLOCK (second chance): entries
//! used since the hand last passed are spared once; the others go one at a
//! time until the new entry fits. Nothing is ever cleared wholesale. Each
//! worker thread's slots (below) add at most [`LOCAL_SLOTS`] tokens per
//! layer, for at most 16 layers.
//!
//! **Cheap hits.** In front of the shards, each worker thread keeps a small
//! direct-mapped copy ([`LOCAL_SLOTS`] entries per layer, its own caveats), so
//! that a hot token is served without touching memory another core writes
//! (a lock word or a reference count bounced between cores costs more than
//! the rest of the paid path). A hit in the shards costs one hash, one shard
//! lock, one index probe and a reference count; a token is copied into a
//! thread's slots only on its second shared hit on that thread within a
//! short window, so a set of tokens too large for the slots pays no copies. A miss costs the same
//! probe, then full verification.
//!
//! **Spellings seen before skip parsing.** Each worker thread also keeps a
//! small direct-mapped memo ([`SPELLING_SLOTS`] per layer) from the exact
//! bytes of an `Authorization` value that was accepted to its canonical key,
//! so a client repeating its header is served without parsing the
//! credential again. A spelling not remembered is first read for its
//! identity only ([`l402::TokenIdentity::read`]: the full parse's checks,
//! no allocation); only a token not in the cache is parsed in full. Only values
//! of at most [`MAX_SPELLING_BYTES`] that were accepted are remembered; a
//! memo hit still finds the token in the cache and checks its caveats, and
//! anything but success falls back to the full path. Many spellings of one
//! token only overwrite each other's slot (the slot is picked from the
//! value's tail, the preimage), so the memo is bounded at
//! `SPELLING_SLOTS × (MAX_SPELLING_BYTES + 120)` bytes per layer and thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use l402::{
    Caveat, Credential, Identifier, PaymentHash, Preimage, TokenId, TokenIdentity, Verified,
};

/// How many shards the cache is split into.
pub(crate) const SHARDS: usize = 16;
/// How many entries each worker thread keeps per layer, in front of the
/// shards.
pub(crate) const LOCAL_SLOTS: usize = 64;
/// The most layers a thread keeps local copies for.
const LOCAL_LAYERS: usize = 16;
/// How many accepted `Authorization` spellings each worker thread remembers
/// per layer.
pub(crate) const SPELLING_SLOTS: usize = 64;
/// The longest `Authorization` value remembered as a spelling.
pub(crate) const MAX_SPELLING_BYTES: usize = 1024;

/// The default byte budget of one layer's cache: 64 MiB, about 120,000
/// layer tokens.
pub const DEFAULT_TOKEN_CACHE_BYTES: usize = 64 << 20;

/// The canonical identity of a credential: token id, signature, preimage.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenKey([u8; 96]);

impl TokenKey {
    /// The key of a credential with exactly one macaroon and an L402
    /// identifier; `None` otherwise (such a credential is verified in full).
    pub(crate) fn of(credential: &Credential) -> Option<TokenKey> {
        let [macaroon] = credential.macaroons() else {
            return None;
        };
        let identifier = Identifier::from_bytes(macaroon.identifier()).ok()?;
        Some(TokenKey::from_parts(
            &identifier.token_id,
            macaroon.signature(),
            credential.preimage(),
        ))
    }

    /// The one layout of a key: token id, signature, preimage.
    fn from_parts(token_id: &TokenId, signature: &[u8; 32], preimage: &Preimage) -> TokenKey {
        let mut key = [0u8; 96];
        key[..32].copy_from_slice(&token_id.0);
        key[32..64].copy_from_slice(signature);
        key[64..].copy_from_slice(preimage.as_bytes());
        TokenKey(key)
    }
}

impl From<&TokenIdentity> for TokenKey {
    fn from(identity: &TokenIdentity) -> Self {
        TokenKey::from_parts(&identity.token_id, &identity.signature, &identity.preimage)
    }
}

/// A verified token, with what each paid request hands the service computed
/// once.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) payment_hash: PaymentHash,
    pub(crate) token_id: TokenId,
    pub(crate) caveats: Arc<[Caveat]>,
    pub(crate) valid_until: Option<u64>,
    /// When a remote producer must be asked again before the token is served
    /// from the cache (unix seconds): how soon a revoked merchant key or
    /// token takes effect. `None` for tokens verified in process.
    pub(crate) recheck_at: Option<u64>,
}

impl Token {
    /// Whether a remote producer must be asked about it again at `now`.
    pub(crate) fn recheck_due(&self, now: u64) -> bool {
        self.recheck_at.is_some_and(|at| now >= at)
    }

    /// A copy that shares nothing with this one (its own caveats), for a
    /// thread's local cache.
    fn private_copy(&self) -> Token {
        Token {
            caveats: self.caveats.iter().cloned().collect(),
            ..*self
        }
    }

    /// The caveats' heap: the shared array and each caveat's two strings,
    /// with the allocator's 16 bytes of overhead per allocation.
    fn caveat_bytes(&self) -> usize {
        const MALLOC: usize = 16;
        16 + MALLOC
            + self
                .caveats
                .iter()
                .map(|c| size_of::<Caveat>() + c.condition().len() + c.value().len() + 2 * MALLOC)
                .sum::<usize>()
    }
}

impl From<Verified> for Token {
    fn from(verified: Verified) -> Self {
        Token {
            payment_hash: verified.payment_hash(),
            token_id: verified.token_id(),
            valid_until: verified.caveat("valid_until").and_then(|v| v.parse().ok()),
            caveats: verified.caveats.into(),
            recheck_at: None,
        }
    }
}

struct Slot {
    hash: u64,
    key: TokenKey,
    token: Token,
    cost: usize,
    referenced: bool,
}

/// Maps an already computed 64-bit hash to itself.
#[derive(Default)]
struct PassHasher(u64);

impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Shard {
    index: HashMap<u64, u32, BuildHasherDefault<PassHasher>>,
    slots: Vec<Slot>,
    hand: usize,
    bytes: usize,
}

impl Shard {
    fn get(&mut self, hash: u64, key: &TokenKey) -> Option<&Token> {
        let at = *self.index.get(&hash)? as usize;
        let slot = self.slots.get_mut(at)?;
        if slot.key != *key {
            return None;
        }
        slot.referenced = true;
        Some(&slot.token)
    }

    /// Removes the slot at `at` (the last slot takes its place).
    fn evict(&mut self, at: usize) {
        let slot = self.slots.swap_remove(at);
        self.index.remove(&slot.hash);
        self.bytes -= slot.cost;
        if let Some(moved) = self.slots.get(at) {
            self.index.insert(moved.hash, at as u32);
        }
    }

    fn insert(&mut self, hash: u64, key: TokenKey, token: Token, cost: usize, budget: usize) {
        if cost > budget {
            return;
        }
        if let Some(&at) = self.index.get(&hash) {
            // The same key (or, rarely, a hash collision): replace.
            self.evict(at as usize);
        }
        // CLOCK: spare each used entry once, evict the first unused one.
        while self.bytes + cost > budget && !self.slots.is_empty() {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let slot = &mut self.slots[self.hand];
            if slot.referenced {
                slot.referenced = false;
                self.hand += 1;
            } else {
                self.evict(self.hand);
            }
        }
        self.index.insert(hash, self.slots.len() as u32);
        self.slots.push(Slot {
            hash,
            key,
            token,
            cost,
            referenced: false,
        });
        self.bytes += cost;
    }

    fn remove(&mut self, hash: u64, key: &TokenKey) {
        if let Some(&at) = self.index.get(&hash)
            && self.slots[at as usize].key == *key
        {
            self.evict(at as usize);
        }
    }
}

/// The memo slot of a spelling: from its last 16 bytes (the preimage's
/// hex, random per token), which a client cannot steer onto another
/// token's slot without knowing that token's preimage. `None` for values
/// too short or too long to remember.
fn spelling_slot(raw: &[u8]) -> Option<usize> {
    if raw.len() < 16 || raw.len() > MAX_SPELLING_BYTES {
        return None;
    }
    let tail = &raw[raw.len() - 16..];
    let mut word = [0u8; 8];
    word.copy_from_slice(&tail[..8]);
    let a = u64::from_le_bytes(word);
    word.copy_from_slice(&tail[8..]);
    let b = u64::from_le_bytes(word);
    let mixed = (a ^ b.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Some((mixed >> 58) as usize % SPELLING_SLOTS)
}

/// See the [module docs](self).
pub(crate) struct TokenCache {
    id: u64,
    hasher: RandomState,
    shard_budget: usize,
    shards: Box<[Mutex<Shard>]>,
}

type Local = (u64, TokenKey, Token);
type LocalTokens = Vec<(u64, Box<[Option<Local>]>)>;
/// One remembered spelling; its buffer is reused, so remembering another
/// spelling in the slot allocates nothing once the slot has held one as long.
#[derive(Default)]
struct Spelling {
    bytes: Vec<u8>,
    key: Option<TokenKey>,
}

type Spellings = Vec<(u64, Box<[Spelling]>)>;

thread_local! {
    static LOCAL: RefCell<LocalTokens> = const { RefCell::new(Vec::new()) };
    static SPELLINGS: RefCell<Spellings> = const { RefCell::new(Vec::new()) };
    static RECENT: RefCell<[u64; RECENT_SLOTS]> = const { RefCell::new([0; RECENT_SLOTS]) };
}

/// How many recent shared hits a thread remembers (by hash) to tell a hot
/// token, worth a copy in its slots, from one of a large rotating set.
const RECENT_SLOTS: usize = 64;

/// Whether this thread had a shared hit on `hash` recently (and remembers
/// this one): a token is copied into a thread's slots on its second shared
/// hit within the window, never on a first.
fn seen_recently(hash: u64) -> bool {
    RECENT.with(|recent| {
        let Ok(mut recent) = recent.try_borrow_mut() else {
            return false;
        };
        let at = (hash >> 32) as usize % RECENT_SLOTS;
        if recent[at] == hash {
            true
        } else {
            recent[at] = hash;
            false
        }
    })
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_TOKEN_CACHE_BYTES)
    }
}

impl TokenCache {
    /// A cache holding at most `max_bytes` of entries (see
    /// [`TokenCache::entry_cost`]).
    pub(crate) fn new(max_bytes: usize) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        TokenCache {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            hasher: RandomState::new(),
            shard_budget: max_bytes / SHARDS,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The bytes an entry for `token` is charged.
    pub(crate) fn entry_cost(token: &Token) -> usize {
        size_of::<Slot>() + 24 + token.caveat_bytes()
    }

    fn hash(&self, key: &TokenKey) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(&key.0);
        h.finish()
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        // The top bits pick the shard; the index uses all of them.
        &self.shards[(hash >> 59) as usize % SHARDS]
    }

    /// Runs `f` on the cached token for `key`: this thread's copy, else the
    /// shared one (copied for this thread on the way).
    pub(crate) fn with<R>(&self, key: &TokenKey, f: impl FnOnce(&Token) -> R) -> Option<R> {
        let hash = self.hash(key);
        let slot = hash as usize % LOCAL_SLOTS;
        let mut f = Some(f);
        let local = LOCAL.with(|local| {
            let local = local.try_borrow().ok()?;
            let (_, slots) = local.iter().find(|(id, _)| *id == self.id)?;
            match &slots[slot] {
                Some((h, k, token)) if *h == hash && k == key => f.take().map(|f| f(token)),
                _ => None,
            }
        });
        if local.is_some() {
            return local;
        }
        // A shared hit: `f` runs under the shard's lock (it only checks
        // caveats and copies a few fields). A token this thread hit recently
        // is also copied into its slots, so a hot token soon stops touching
        // shared memory, while a large rotating set, whose tokens do not come
        // back within the window, pays no copies.
        let promote = seen_recently(hash);
        let (result, copy) = {
            let mut shard = self.shard(hash).lock().ok()?;
            let token = shard.get(hash, key)?;
            let copy = promote.then(|| token.private_copy());
            (f.take().map(|f| f(token)), copy)
        };
        if let Some(copy) = copy {
            self.keep_locally(hash, *key, copy);
        }
        result
    }

    fn keep_locally(&self, hash: u64, key: TokenKey, token: Token) {
        LOCAL.with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            let at = match local.iter().position(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    if local.len() >= LOCAL_LAYERS {
                        local.remove(0);
                    }
                    local.push((self.id, (0..LOCAL_SLOTS).map(|_| None).collect()));
                    local.len() - 1
                }
            };
            local[at].1[hash as usize % LOCAL_SLOTS] = Some((hash, key, token));
        });
    }

    /// The key of a spelling this thread saw accepted, if it is remembered.
    pub(crate) fn key_for_spelling(&self, raw: &[u8]) -> Option<TokenKey> {
        let slot = spelling_slot(raw)?;
        SPELLINGS.with(|memo| {
            let memo = memo.try_borrow().ok()?;
            let (_, slots) = memo.iter().find(|(id, _)| *id == self.id)?;
            let spelling = &slots[slot];
            spelling.key.filter(|_| spelling.bytes == raw)
        })
    }

    /// Remembers that `raw` was accepted as the credential with `key`.
    pub(crate) fn remember_spelling(&self, raw: &[u8], key: TokenKey) {
        let Some(slot) = spelling_slot(raw) else {
            return;
        };
        SPELLINGS.with(|memo| {
            let Ok(mut memo) = memo.try_borrow_mut() else {
                return;
            };
            let at = match memo.iter().position(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    if memo.len() >= LOCAL_LAYERS {
                        memo.remove(0);
                    }
                    memo.push((
                        self.id,
                        (0..SPELLING_SLOTS).map(|_| Spelling::default()).collect(),
                    ));
                    memo.len() - 1
                }
            };
            let spelling = &mut memo[at].1[slot];
            spelling.bytes.clear();
            spelling.bytes.reserve_exact(raw.len());
            spelling.bytes.extend_from_slice(raw);
            spelling.key = Some(key);
        });
    }

    /// Remembers a verified token.
    pub(crate) fn insert(&self, key: TokenKey, token: Token) {
        let hash = self.hash(&key);
        let cost = Self::entry_cost(&token);
        // The shard's copy is made in one go, so its caveats sit together in
        // memory (a hit in a large set then touches fewer cache lines).
        let shared = token.private_copy();
        self.keep_locally(hash, key, token);
        if let Ok(mut shard) = self.shard(hash).lock() {
            shard.insert(hash, key, shared, cost, self.shard_budget);
        }
    }

    /// Forgets a token (it expired, say).
    pub(crate) fn remove(&self, key: &TokenKey) {
        let hash = self.hash(key);
        LOCAL.with(|local| {
            if let Ok(mut local) = local.try_borrow_mut()
                && let Some((_, slots)) = local.iter_mut().find(|(id, _)| *id == self.id)
            {
                let slot = &mut slots[hash as usize % LOCAL_SLOTS];
                if slot
                    .as_ref()
                    .is_some_and(|(h, k, _)| *h == hash && k == key)
                {
                    *slot = None;
                }
            }
        });
        if let Ok(mut shard) = self.shard(hash).lock() {
            shard.remove(hash, key);
        }
    }

    /// How many entries the shards hold.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.slots.len()))
            .sum()
    }

    /// How many bytes the shards' entries are charged.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.bytes))
            .sum()
    }

    /// Whether the shards hold this key (this thread's copy not consulted).
    #[cfg(test)]
    fn contains(&self, key: &TokenKey) -> bool {
        let hash = self.hash(key);
        self.shard(hash)
            .lock()
            .is_ok_and(|mut s| s.get(hash, key).is_some())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: u32) -> TokenKey {
        let mut k = [0u8; 96];
        k[..4].copy_from_slice(&n.to_be_bytes());
        TokenKey(k)
    }

    fn token(n: u32) -> Token {
        Token {
            payment_hash: PaymentHash([n as u8; 32]),
            token_id: TokenId([n as u8; 32]),
            caveats: vec![
                Caveat::resource("/paid"),
                Caveat::amount_sats(21),
                Caveat::valid_until(4_000_000_000),
            ]
            .into(),
            valid_until: Some(4_000_000_000),
            recheck_at: None,
        }
    }

    #[test]
    fn an_entry_costs_what_the_docs_say() {
        let cost = TokenCache::entry_cost(&token(1));
        assert!((500..620).contains(&cost), "{cost}");
    }

    #[test]
    fn the_byte_bound_holds_and_eviction_is_gradual() {
        let per = TokenCache::entry_cost(&token(0));
        // Room for about 100 entries per shard.
        let cache = TokenCache::new(per * 100 * SHARDS);
        let mut n = 0u32;
        while cache.len() < 100 * SHARDS - SHARDS * 2 {
            cache.insert(key(n), token(n));
            n += 1;
        }
        // Push well past full: the bound holds at every step.
        for _ in 0..(100 * SHARDS) {
            cache.insert(key(n), token(n));
            n += 1;
            assert!(cache.bytes() <= per * 100 * SHARDS);
        }
        let before: Vec<u32> = (0..n).filter(|&i| cache.contains(&key(i))).collect();
        assert!(before.len() > 90 * SHARDS, "{} held", before.len());
        // One more insertion evicts at most a few entries, not the lot.
        cache.insert(key(n), token(n));
        let survivors = before.iter().filter(|&&i| cache.contains(&key(i))).count();
        assert!(
            survivors + 2 >= before.len(),
            "{survivors} of {}",
            before.len()
        );
        assert!(cache.contains(&key(n)));
    }

    #[test]
    fn used_entries_get_a_second_chance() {
        let per = TokenCache::entry_cost(&token(0));
        let cache = TokenCache::new(per * 10 * SHARDS);
        let hot = key(u32::MAX);
        cache.insert(hot, token(7));
        for n in 0..(50 * SHARDS as u32) {
            // Look the hot key up in the shard (not this thread's copy).
            let hash = cache.hash(&hot);
            let _ = cache.shard(hash).lock().unwrap().get(hash, &hot).is_some();
            cache.insert(key(n), token(n));
        }
        assert!(cache.contains(&hot), "the hot entry survived");
    }

    fn spellings_remembered(cache: &TokenCache) -> usize {
        SPELLINGS.with(|memo| {
            memo.borrow()
                .iter()
                .filter(|(id, _)| *id == cache.id)
                .map(|(_, slots)| slots.iter().filter(|s| s.key.is_some()).count())
                .sum()
        })
    }

    #[test]
    fn remembered_spellings_are_exact_and_bounded_per_thread() {
        let cache = TokenCache::default();
        let spelling = |n: u32| format!("L402 AgEEbHNhdA{n:08}:{:064x}", u128::from(n) * 7919);
        cache.remember_spelling(spelling(1).as_bytes(), key(1));
        assert!(cache.key_for_spelling(spelling(1).as_bytes()) == Some(key(1)));
        // One byte more or less is another spelling: not remembered.
        let longer = format!("{} ", spelling(1));
        assert!(cache.key_for_spelling(longer.as_bytes()).is_none());
        assert!(
            cache
                .key_for_spelling(&spelling(1).as_bytes()[1..])
                .is_none()
        );
        // Past the bound, spellings overwrite each other's slots.
        for n in 0..10_000 {
            cache.remember_spelling(spelling(n).as_bytes(), key(n));
        }
        let kept = spellings_remembered(&cache);
        assert!(kept <= SPELLING_SLOTS, "{kept} spellings kept");
        assert!(kept > SPELLING_SLOTS / 2, "{kept} spellings kept");
        // Values too long to remember are not.
        let long = format!("L402 {}:{:064x}", "A".repeat(MAX_SPELLING_BYTES), 1);
        cache.remember_spelling(long.as_bytes(), key(1));
        assert!(cache.key_for_spelling(long.as_bytes()).is_none());
        // Another layer's memo is its own.
        let other = TokenCache::default();
        assert!(other.key_for_spelling(spelling(9_999).as_bytes()).is_none());
    }

    fn held_locally(cache: &TokenCache, key: &TokenKey) -> bool {
        let hash = cache.hash(key);
        LOCAL.with(|local| {
            local.borrow().iter().any(|(id, slots)| {
                *id == cache.id
                    && slots[hash as usize % LOCAL_SLOTS]
                        .as_ref()
                        .is_some_and(|(h, k, _)| *h == hash && k == key)
            })
        })
    }

    #[test]
    fn a_token_is_copied_to_a_thread_on_its_second_shared_hit_not_its_first() {
        let cache = TokenCache::default();
        // Inserted by another thread: this one has no copy yet.
        std::thread::scope(|s| {
            s.spawn(|| {
                cache.insert(key(1), token(1));
                cache.insert(key(2), token(2));
            });
        });
        assert!(!held_locally(&cache, &key(1)));
        assert!(cache.with(&key(1), |_| ()).is_some());
        assert!(!held_locally(&cache, &key(1)), "copied on a first hit");
        assert!(cache.with(&key(1), |_| ()).is_some());
        assert!(held_locally(&cache, &key(1)), "not copied on a second hit");
        // A token of a rotation this thread does not come back to is never
        // copied.
        assert!(cache.with(&key(2), |_| ()).is_some());
        assert!(!held_locally(&cache, &key(2)));
    }

    #[test]
    fn hits_come_from_this_threads_copy_and_removal_forgets() {
        let cache = TokenCache::default();
        cache.insert(key(1), token(1));
        let id = cache.with(&key(1), |t| t.token_id).unwrap();
        assert_eq!(id, TokenId([1; 32]));
        assert!(cache.with(&key(2), |_| ()).is_none());
        cache.remove(&key(1));
        assert!(cache.with(&key(1), |_| ()).is_none());
        assert_eq!(cache.len(), 0);
    }
}
