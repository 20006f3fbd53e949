//! Converting one detected reference for one user: the cache, single-flight, and the call.
//!
//! The same user converting the same product again within the cache window is answered from
//! the store (the 抖口令 lives about 8 days), and identical requests that arrive together make
//! one upstream call between them.
//!
//! The product's details (the card: title, price, cover, commission) ride on the conversion
//! call itself (kol_ProductShare `detail=3`: one call, no latency added) and are kept with
//! the conversion, so a cached answer shows the same card. Where the replies carry none,
//! `kol_MaterialsProductsDetails` is asked through [`DetailsLookup`]: ids of every message in
//! flight share calls of 20, and a product whose id the reference itself names (a bare id, a
//! product page) is looked up *while* it is converted, not after, as long as the share
//! replies are not known to carry details (the first reply that does stops that, so a
//! provider whose replies carry them pays no extra calls). Details never fail or hold up a
//! conversion beyond [`DETAILS_TIMEOUT`]: any error is a card without details.

use crate::alerts::{Alerts, Source};
use crate::details_lookup::{Answer, DetailsLookup};
use crate::detect::Kind;
use crate::detect::Reference;
use crate::resolve::{NotProduct, ShortLinks, Target};
use crate::store::{NewConversion, Store, StoreError};
use crate::tracking;
use crate::veapi::{LinkMaker, ProductDetails, Provider, ShareLink, ShareRequest, VeapiError};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum ConvertError {
    #[error(transparent)]
    Upstream(#[from] VeapiError),
    /// The provider takes only product links and ids (csj), and this is a bare 抖口令.
    #[error("this provider needs a product link, not a share password")]
    NeedsProductLink,
    /// A short link that leads to a video, a live room, a profile…: nothing to convert.
    #[error("the short link leads to a {}, not a product", .0.as_str())]
    NotAProduct(NotProduct),
    /// A short link that could not be resolved where the provider needs its product.
    #[error("the short link could not be resolved")]
    Unresolved,
    #[error("store failed: {0}")]
    Store(String),
}

impl From<StoreError> for ConvertError {
    fn from(e: StoreError) -> Self {
        ConvertError::Store(e.to_string())
    }
}

/// Who asks, where, for what.
#[derive(Debug, Clone)]
pub struct ConvertRequest {
    pub user_id: u64,
    /// How to mention the user in a group, should order news have to go there.
    pub user_name: Option<String>,
    pub chat_id: i64,
    pub reference: Reference,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub link: ShareLink,
    /// What the product is, when upstream said (the card); `None`: the password alone.
    pub details: Option<ProductDetails>,
    /// Answered from the store without calling upstream.
    pub cached: bool,
}

/// How long a message's batched details lookup may hold up its reply.
pub const DETAILS_TIMEOUT: Duration = Duration::from_secs(3);

/// What the Telegram handlers need: converted links, however they are made.
pub trait Converter: Send + Sync + 'static {
    fn convert(&self, req: ConvertRequest) -> BoxFuture<'static, Result<Converted, ConvertError>>;

    /// The references of one message, converted concurrently, in their order. A converter
    /// that can look details up afterwards does so for all of them at once.
    fn convert_all(
        &self,
        reqs: Vec<ConvertRequest>,
    ) -> BoxFuture<'static, Vec<Result<Converted, ConvertError>>> {
        futures::future::join_all(reqs.into_iter().map(|r| self.convert(r))).boxed()
    }
}

type Flight = Shared<BoxFuture<'static, Result<Converted, ConvertError>>>;

#[derive(Clone)]
pub struct ConversionService {
    inner: Arc<Inner>,
}

struct Inner {
    links: Arc<dyn LinkMaker>,
    provider: Provider,
    short_links: Option<ShortLinks>,
    store: Store,
    ttl: Duration,
    alerts: Option<Alerts>,
    in_flight: Mutex<HashMap<(u64, String), Flight>>,
    details: DetailsLookup,
    /// Whether the share replies carry details: [`UNKNOWN`], [`CARRY`] or [`CARRY_NONE`], as
    /// the newest reply showed.
    share_details: AtomicU8,
}

const UNKNOWN: u8 = 0;
const CARRY: u8 = 1;
const CARRY_NONE: u8 = 2;

impl ConversionService {
    /// `alerts`, when given, hears about failures only the operators can fix.
    /// Converts through `links` (the provider's link endpoint, [`crate::veapi::Upstream`]).
    pub fn new(
        links: Arc<dyn LinkMaker>,
        store: Store,
        ttl: Duration,
        alerts: Option<Alerts>,
    ) -> Self {
        Self::for_provider(links, Provider::Kol, None, store, ttl, alerts)
    }

    /// As [`new`](Self::new), for a provider with its own rules on what it takes, resolving
    /// short links through `short_links` when given (`RESOLVE_SHORT_LINKS`).
    pub fn for_provider(
        links: Arc<dyn LinkMaker>,
        provider: Provider,
        short_links: Option<ShortLinks>,
        store: Store,
        ttl: Duration,
        alerts: Option<Alerts>,
    ) -> Self {
        ConversionService {
            inner: Arc::new(Inner {
                details: DetailsLookup::new(links.clone()),
                share_details: AtomicU8::new(UNKNOWN),
                links,
                provider,
                short_links,
                store,
                ttl,
                alerts,
                in_flight: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// What `provider` is sent for `reference`, resolving a short link through `short_links`
/// when given:
/// - a short link to a video, live room, profile or note is not a product: refused here,
///   no upstream call;
/// - csj takes only product ids and URLs: a product short link becomes its product id, one
///   that cannot be resolved or leads somewhere unknown is refused or sent as its target,
///   and a bare 抖口令 is refused with a request for the link;
/// - kol and douke take the reference as written: a short link that cannot be resolved or
///   leads somewhere unknown is sent as it is (resolution only ever adds exactness).
pub async fn upstream_value(
    provider: Provider,
    short_links: Option<&ShortLinks>,
    reference: &Reference,
) -> Result<String, ConvertError> {
    let as_written = || Ok(reference.value.clone());
    match reference.kind {
        Kind::Password if provider.needs_product_url() => Err(ConvertError::NeedsProductLink),
        // csj's own example sends a bare id: a product page's URL goes as the id it names. A
        // 团长 link too: csj documents no 团长 parameter, so its activity cannot be carried.
        Kind::ProductUrl | Kind::ColonelLink if provider.needs_product_url() => {
            match crate::resolve::classify_location(&reference.value) {
                Target::Product { id } => Ok(id),
                _ => as_written(),
            }
        }
        Kind::ShortLink => {
            let Some(resolver) = short_links else {
                return as_written();
            };
            match resolver.resolve(&reference.value).await {
                Ok(Target::Product { id }) if provider.needs_product_url() => Ok(id),
                Ok(Target::Product { .. }) => as_written(),
                Ok(Target::NotProduct(what)) => Err(ConvertError::NotAProduct(what)),
                Ok(Target::Unknown { .. }) => {
                    tracing::info!("a short link leads to a page not known as a product");
                    if provider.needs_product_url() {
                        // Never sent on: the page may be anything, its URL may carry the
                        // sharer's identifiers, and csj takes product pages only.
                        Err(ConvertError::Unresolved)
                    } else {
                        as_written()
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a short link could not be resolved");
                    if provider.needs_product_url() {
                        Err(ConvertError::Unresolved)
                    } else {
                        as_written()
                    }
                }
            }
        }
        _ => as_written(),
    }
}

impl Converter for ConversionService {
    fn convert(&self, req: ConvertRequest) -> BoxFuture<'static, Result<Converted, ConvertError>> {
        let key = (req.user_id, req.reference.value.clone());
        let inner = self.inner.clone();
        let flight = {
            let mut map = inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone())
                .or_insert_with(|| Inner::convert_once(inner.clone(), req).boxed().shared())
                .clone()
        };
        async move {
            let result = flight.clone().await;
            metrics::counter!(crate::http::metrics::CONVERSIONS, "outcome" => outcome(&result))
                .increment(1);
            let mut map = inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if map.get(&key).is_some_and(|f| f.ptr_eq(&flight)) {
                map.remove(&key);
            }
            result
        }
        .boxed()
    }

    fn convert_all(
        &self,
        reqs: Vec<ConvertRequest>,
    ) -> BoxFuture<'static, Vec<Result<Converted, ConvertError>>> {
        let keys: Vec<(u64, String)> = reqs
            .iter()
            .map(|r| (r.user_id, self.inner.cache_key(&r.reference)))
            .collect();
        // Asked before the conversions start, so the lookups run beside them, and a message's
        // products go out in the same call.
        let early: Vec<Option<(String, Answer)>> = reqs
            .iter()
            .map(|r| {
                let id = named_product(&r.reference).filter(|_| self.inner.speculates())?;
                let answer = self.inner.details.lookup(&id);
                Some((id, answer))
            })
            .collect();
        let calls = futures::future::join_all(reqs.into_iter().map(|r| self.convert(r)));
        let inner = self.inner.clone();
        async move {
            let mut results = calls.await;
            inner.fill_details(&keys, early, &mut results).await;
            results
        }
        .boxed()
    }
}

/// The product a reference names by itself, before any conversion: a bare id, or the id in
/// a product page's URL. Short links and 抖口令 name theirs only once converted.
fn named_product(reference: &Reference) -> Option<String> {
    match reference.kind {
        Kind::ProductId => Some(reference.value.clone()),
        Kind::ProductUrl => match crate::resolve::classify_location(&reference.value) {
            Target::Product { id } => Some(id),
            _ => None,
        },
        _ => None,
    }
}

/// A conversion's outcome as `dlb_conversions_total` labels it.
fn outcome(result: &Result<Converted, ConvertError>) -> &'static str {
    use crate::veapi::ErrorClass;
    match result {
        Ok(c) if c.cached => "cached",
        Ok(_) => "converted",
        Err(ConvertError::Store(_)) => "store_error",
        Err(ConvertError::NeedsProductLink) => "needs_product_link",
        Err(ConvertError::NotAProduct(_)) => "not_a_product",
        Err(ConvertError::Unresolved) => "unresolved",
        Err(ConvertError::Upstream(e)) => match e.class() {
            ErrorClass::Product => "refused_product",
            ErrorClass::Authorization => "authorization",
            ErrorClass::KeyOrQuota => "key_or_quota",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Transport => "transport",
            ErrorClass::Other => "other",
            ErrorClass::Unexpected => "unexpected",
        },
    }
}

impl Inner {
    /// Attribution rides on external_info (a `dlb2_` value names its user and checks
    /// itself), not on this row: a failed write costs only the cache entry and the group
    /// fallback, so the user still gets the link. (Only values of the earlier `dlb_` format,
    /// issued before the upgrade, need their row to be trusted; none are issued any more.)
    async fn remember(
        &self,
        req: &ConvertRequest,
        key: &str,
        link: &ShareLink,
        details: Option<&ProductDetails>,
        created_at: i64,
    ) {
        let external_info = tracking::encode(req.user_id);
        let row = NewConversion {
            user_id: req.user_id,
            user_name: req.user_name.as_deref(),
            chat_id: req.chat_id,
            product_key: key,
            external_info: &external_info,
            link,
            created_at,
        };
        if let Err(e) = self.store.record_conversion_with(&row, details).await {
            tracing::warn!(error = %e, "could not remember a conversion");
        }
    }

    /// The cache's key for a reference: the reference as written, prefixed by the provider
    /// for all but kol (the stores made before providers could be chosen hold kol's). A
    /// password from one provider tracks for that provider's account alone: after a switch
    /// it must never be handed out again.
    fn cache_key(&self, reference: &Reference) -> String {
        match self.provider {
            Provider::Kol => reference.value.clone(),
            other => format!("{other}:{}", reference.value),
        }
    }

    async fn convert_once(self: Arc<Self>, req: ConvertRequest) -> Result<Converted, ConvertError> {
        let now = chrono::Utc::now().timestamp();
        let key = self.cache_key(&req.reference);
        let key = key.as_str();
        if !self.ttl.is_zero() {
            let not_before = now - self.ttl.as_secs() as i64;
            if let Some(hit) = self
                .store
                .cached_conversion(req.user_id, key, not_before)
                .await?
            {
                tracing::debug!(
                    user_id = req.user_id,
                    kind = req.reference.kind.as_str(),
                    "conversion served from cache"
                );
                // Remember this chat too (order news may have to go there), dated as the
                // original so the cache never outlives the password.
                if hit.chat_id != req.chat_id {
                    self.remember(&req, key, &hit.link, hit.details.as_ref(), hit.created_at)
                        .await;
                }
                return Ok(Converted {
                    link: hit.link,
                    details: hit.details,
                    cached: true,
                });
            }
        }
        let product_url =
            upstream_value(self.provider, self.short_links.as_ref(), &req.reference).await?;
        let external_info = tracking::encode(req.user_id);
        let result = self
            .links
            .share_detailed(&ShareRequest {
                product_url: &product_url,
                external_info: &external_info,
                use_coupon: req.reference.kind.needs_coupon(),
            })
            .await;
        if let Some(alerts) = &self.alerts {
            let recorded = match &result {
                Ok(_) => alerts.succeeded(Source::Conversion).await,
                Err(e) => alerts.failed(Source::Conversion, e, 1).await,
            };
            if let Err(e) = recorded {
                tracing::error!(error = %e, "could not record the conversion incident state");
            }
        }
        let crate::veapi::Detailed { link, details } = result?;
        let seen = if details.is_some() { CARRY } else { CARRY_NONE };
        self.share_details.store(seen, Ordering::Relaxed);
        self.remember(&req, key, &link, details.as_ref(), now).await;
        tracing::info!(
            user_id = req.user_id,
            chat_id = req.chat_id,
            kind = req.reference.kind.as_str(),
            "link converted"
        );
        Ok(Converted {
            link,
            details,
            cached: false,
        })
    }

    /// Whether to look details up beside the conversions: unless the share replies are known
    /// to carry them.
    fn speculates(&self) -> bool {
        self.share_details.load(Ordering::Relaxed) != CARRY
    }

    /// Gives the conversions in `results` that came without details the details
    /// [`DetailsLookup`] finds (`early[i]`: result i's product, already being looked up beside
    /// its conversion; otherwise asked now: short links and 抖口令 name their product only once
    /// converted), and keeps them with the conversions (`keys[i]`: result i's user and cache
    /// key). Bounded by [`DETAILS_TIMEOUT`]; what is not found in time is a card without
    /// details.
    async fn fill_details(
        &self,
        keys: &[(u64, String)],
        early: Vec<Option<(String, Answer)>>,
        results: &mut [Result<Converted, ConvertError>],
    ) {
        let mut waits: Vec<(usize, Answer)> = Vec::new();
        for (i, (result, early)) in results.iter().zip(early).enumerate() {
            let Ok(c) = result else { continue };
            if c.details.is_some() {
                continue;
            }
            let answer = match (early, c.link.product_id()) {
                (Some((named, answer)), Some(id)) if named == id => answer,
                (Some((_, answer)), None) => answer,
                (_, Some(id)) => self.details.lookup(&id),
                (None, None) => continue,
            };
            waits.push((i, answer));
        }
        if waits.is_empty() {
            return;
        }
        let answers = futures::future::join_all(
            waits
                .iter_mut()
                .map(|(_, answer)| async move { answer.await.ok().flatten() }),
        );
        let Ok(answers) = tokio::time::timeout(DETAILS_TIMEOUT, answers).await else {
            tracing::warn!(
                products = waits.len(),
                "product details lookup timed out; replying without them"
            );
            return;
        };
        let mut kept = Vec::new();
        for ((i, _), found) in waits.iter().zip(answers) {
            let Some(d) = found else { continue };
            if let Ok(c) = &mut results[*i] {
                c.details = Some(d.clone());
            }
            let (user_id, key) = &keys[*i];
            kept.push(async move {
                if let Err(e) = self.store.set_conversion_details(*user_id, key, &d).await {
                    tracing::warn!(error = %e, "could not keep a product's details");
                }
            });
        }
        // Kept together, not one after another (a promo's products each have one).
        futures::future::join_all(kept).await;
    }
}
