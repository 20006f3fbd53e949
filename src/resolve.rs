//! Resolves `v.douyin.com` short links to what they point at, so a product can be told from
//! a video, a live room or a profile before anything is sent upstream.
//!
//! `csj_productlink` takes only a product id or product URL, and a share text's words do not
//! always say what its link is (issue 11, point 3). The short-link host answers a `GET` of
//! `/{code}/` with a `302` whose `Location` names the target; one request that does not
//! follow the redirect is enough, and it never loads Douyin's pages. A link's target does not
//! change, so targets are kept in memory (bounded, with a TTL); failures are not kept.
//! Concurrent resolutions of one link share one request, run on its own task.

use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use url::Url;

/// Where `SHORT_LINK_BASE_URL` points unless configured.
pub const DEFAULT_BASE_URL: &str = "https://v.douyin.com";
/// `v.buydouke.com` codes are asked of their own host (see [`ShortLinks::with_buydouke_base`]).
pub const BUYDOUKE_BASE_URL: &str = "https://v.buydouke.com";
/// The whole request (connect, send, headers) must fit in this: the user is waiting.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// A phone's browser, as the app's share links expect (issue 11). Which page the host picks
/// per agent is not verified here; [`classify_location`] knows both the `iesdouyin.com`
/// share pages and the `www.douyin.com` ones.
pub const USER_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
/// Targets kept at most; when full, expired ones go first, then the oldest.
pub const CACHE_CAPACITY: usize = 10_000;
/// How long a resolved target is trusted (a code is not reused, but links are taken down).
pub const CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// An unknown target's `Location` is kept for the log up to this many bytes.
const LOCATION_KEPT: usize = 512;

/// What a short link points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A product page, with the product id read from it.
    Product { id: String },
    /// Something a user can share that is not a product.
    NotProduct(NotProduct),
    /// A target whose shape is not known; `location` (clipped) is for the log.
    Unknown { location: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotProduct {
    Video,
    /// An image post (图文 note or slides).
    Note,
    Live,
    Profile,
}

impl NotProduct {
    pub fn as_str(self) -> &'static str {
        match self {
            NotProduct::Video => "video",
            NotProduct::Note => "note",
            NotProduct::Live => "live",
            NotProduct::Profile => "profile",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveError {
    #[error("not a v.douyin.com short link")]
    NotShortLink,
    #[error("the short-link host did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the short-link host is unreachable: {0}")]
    Transport(String),
    /// Any reply without a redirect: a `200` page, an error status, a 3xx with no `Location`.
    #[error("the short-link host answered {status} without a redirect")]
    NoRedirect { status: u16 },
    #[error("the short-link redirect has an unreadable Location")]
    BadLocation,
    #[error("cannot build the short-link client: {0}")]
    Client(String),
}

impl ResolveError {
    /// Worth trying again later (the link itself may be fine).
    pub fn is_transient(&self) -> bool {
        matches!(self, ResolveError::Timeout(_) | ResolveError::Transport(_))
    }
}

/// Reads a `Location` and says what it points at. Product signals on shopping hosts and app
/// deeplinks come first (a product page opened from a live room or a video carries
/// `room_id`/`aweme_id` too), then what is not a product, then product ids on other hosts,
/// then URLs carried in a parameter (`z.douyin.com/…?scheme=snssdk1128://ec_goods_detail…`).
/// `promotion_id` is never read as a product id: it names the promotion, not the product.
///
/// Where the shapes come from (public material, found by searching for what `v.douyin.com`
/// redirects to; ids shortened here):
/// - product: `https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3684773501413228571&goods_detail=…`,
///   a resolved `v.douyin.com` share in a product-enrichment tool's test; a reverse-engineering
///   note of the Douyin mall app: "短链 → 302 → `id=<product_id>`（19 位纯数字）"; the older
///   `haohuo.jinritemai.com/views/product/detail?id=…` is veapi's own `productUrl` example.
/// - product deeplink: `sslocal://ec_goods_detail?product_id=…&promotion_id=…` (same tool's
///   test), `snssdk1128://ec_goods_detail?promotion_id=…` (Oct1a/TikTok-Scheme README: with
///   `promotion_id` only, no product id can be read), wrapped as
///   `https://z.douyin.com/YCvp?scheme=snssdk1128%3A%2F%2Fec_goods_detail%3F…`.
/// - video: `https://www.iesdouyin.com/share/video/6861139873160547597/?region=CN&mid=…&u_code=…&titleType=title&utm_source=copy_link&utm_campaign=client_share&utm_medium=android&app=aweme`
///   (a short-URL restore API's sample reply for `v.douyin.com` links, showdoc.com.cn/toer);
///   today `https://www.douyin.com/video/7600582328104095030?previous_page=app_code_link`
///   (clubZhu/flutter_tools, `lib/services/DOUYIN_URL_CLEAN_FIX.md`).
/// - note: `https://www.iesdouyin.com/share/note/<id>/`, `…/share/slides/<id>/` (public
///   Douyin parsers' URL tables).
/// - live: `https://webcast.amemv.com/douyin/webcast/reflow/7318296342189919011?u_code=…&ecom_share_track_params=…`
///   and `https://live.douyin.com/775841227732?room_id=…&enter_from_merge=web_share_link&…`
///   (Evil0ctal/Douyin_TikTok_Download_API, `app/api/endpoints/douyin_web.py` examples).
/// - profile: `https://www.iesdouyin.com/share/user/?sec_uid=MS4wLjAB…` ("what a profile short
///   link actually expands to", a downloader's test table), older
///   `https://www.iesdouyin.com/share/user/93763913776?u_code=…&sec_uid=…&timestamp=…`.
pub fn classify_location(location: &str) -> Target {
    classify(location.trim(), 0).unwrap_or_else(|| Target::Unknown {
        location: clip(location.trim()),
    })
}

fn classify(s: &str, depth: u8) -> Option<Target> {
    let url = Url::parse(s)
        .or_else(|_| Url::parse(&format!("https://{}", s.trim_start_matches('/'))))
        .ok()?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let path = url.path().to_ascii_lowercase();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let id_in = |keys: &[&str]| {
        pairs
            .iter()
            .find(|(k, v)| keys.contains(&k.as_str()) && is_id(v))
            .map(|(_, v)| v.clone())
    };
    let has = |keys: &[&str]| {
        pairs
            .iter()
            .any(|(k, v)| keys.contains(&k.as_str()) && !v.is_empty())
    };
    let product = |id: String| Some(Target::Product { id });
    let not = |kind| Some(Target::NotProduct(kind));

    // A product page: haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=… and the
    // other shopping hosts `detect` knows; their shop pages (`/views/shop/…?id=<shop>`) not.
    let shop = path.contains("shop") || path.contains("store");
    if is_product_host(&host) && !shop {
        if let Some(id) = id_in(&["id", "product_id", "goods_id"]) {
            return product(id);
        }
    }
    // The app's product deeplink: snssdk1128://ec_goods_detail?product_id=…
    if host == "ec_goods_detail" || path.contains("ec_goods_detail") {
        if let Some(id) = id_in(&["product_id", "id", "goods_id"]) {
            return product(id);
        }
    }

    if path.contains("/note/") || path.contains("/slides/") {
        return not(NotProduct::Note);
    }
    if path.contains("/video/") {
        return not(NotProduct::Video);
    }
    if host == "live.douyin.com"
        || host.starts_with("webcast.")
        || path.contains("/webcast/")
        || path.contains("/share/live/")
    {
        return not(NotProduct::Live);
    }
    // A work opened over a profile (`/user/<sec_uid>?modal_id=…`) is the work.
    if has(&["aweme_id", "modal_id"]) {
        return not(NotProduct::Video);
    }
    if has(&["room_id"]) {
        return not(NotProduct::Live);
    }
    if path.contains("/share/user")
        || path.starts_with("/user/")
        || has(&["sec_uid", "sec_user_id"])
    {
        return not(NotProduct::Profile);
    }

    if let Some(id) = id_in(&["product_id", "goods_id"]) {
        return product(id);
    }
    let mut segments = url.path_segments().into_iter().flatten();
    while let Some(seg) = segments.next() {
        if seg.eq_ignore_ascii_case("product") {
            if let Some(id) = segments.next().filter(|id| is_id(id)) {
                return product(id.to_string());
            }
        }
    }

    if depth < 2 {
        for (_, v) in &pairs {
            if v.contains("://") {
                if let Some(found) = classify(v, depth + 1) {
                    return Some(found);
                }
            }
        }
    }
    None
}

/// Product ids are 12–20 digits, as `detect` accepts them.
fn is_id(s: &str) -> bool {
    (12..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_product_host(host: &str) -> bool {
    host == "jinritemai.com"
        || host.ends_with(".jinritemai.com")
        || matches!(
            host,
            "haohuo.snssdk.com" | "haohuo.douyin.com" | "ec.snssdk.com"
        )
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(LOCATION_KEPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

type Flight = Shared<BoxFuture<'static, Result<Target, ResolveError>>>;

/// The resolver: one HTTP client, the cache and the requests in flight. Cloning is cheap and
/// clones share all three.
#[derive(Clone)]
pub struct ShortLinks {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    buydouke_base: Url,
    timeout: Duration,
    cache: Mutex<Cache>,
    flights: Mutex<HashMap<String, Flight>>,
}

impl std::fmt::Debug for ShortLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShortLinks")
            .field("base", &self.inner.base.as_str())
            .field("timeout", &self.inner.timeout)
            .field("cached", &lock(&self.inner.cache).len())
            .finish_non_exhaustive()
    }
}

impl ShortLinks {
    /// The resolver the configuration asks for: None when `RESOLVE_SHORT_LINKS` is off.
    pub fn configured(cfg: &crate::config::VeapiConfig) -> Result<Option<Self>, ResolveError> {
        cfg.resolve_short_links
            .then(|| Self::new(cfg.short_link_base.clone()))
            .transpose()
    }

    /// A resolver asking `base` (`SHORT_LINK_BASE_URL`) for `v.douyin.com` codes.
    pub fn new(base: Url) -> Result<Self, ResolveError> {
        Self::with_timeout(base, TIMEOUT)
    }

    /// As [`ShortLinks::new`] with another total timeout (tests keep theirs short).
    pub fn with_timeout(base: Url, timeout: Duration) -> Result<Self, ResolveError> {
        let buydouke = Url::parse(BUYDOUKE_BASE_URL).expect("constant URL");
        Self::build(base, buydouke, timeout)
    }

    /// A resolver that asks `base` for `v.buydouke.com` codes (default
    /// [`BUYDOUKE_BASE_URL`]: nothing says that host shares its codes with `v.douyin.com`).
    /// Starts with an empty cache.
    pub fn with_buydouke_base(&self, base: Url) -> Result<Self, ResolveError> {
        Self::build(self.inner.base.clone(), base, self.inner.timeout)
    }

    fn build(base: Url, buydouke_base: Url, timeout: Duration) -> Result<Self, ResolveError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ResolveError::Client(e.without_url().to_string()))?;
        Ok(ShortLinks {
            inner: Arc::new(Inner {
                http,
                base: with_slash(base),
                buydouke_base: with_slash(buydouke_base),
                timeout,
                cache: Mutex::new(Cache::new(CACHE_CAPACITY, CACHE_TTL)),
                flights: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// What `short_link` (as the detector hands it, `https://v.douyin.com/<code>/`) points at:
    /// from the cache, from a request already in flight for it, or by one request.
    pub async fn resolve(&self, short_link: &str) -> Result<Target, ResolveError> {
        let (host, code) =
            crate::detect::short_link_parts(short_link.trim()).ok_or(ResolveError::NotShortLink)?;
        let key = format!("{host}/{code}");
        let flight = {
            let mut flights = lock(&self.inner.flights);
            // Under the flights lock: a request that just finished has cached its target
            // before leaving `flights`, so it is found here and not asked again.
            if let Some(hit) = lock(&self.inner.cache).get(&key, Instant::now()) {
                return Ok(hit);
            }
            let base = if host == "v.buydouke.com" {
                &self.inner.buydouke_base
            } else {
                &self.inner.base
            };
            let url = base.join(&format!("{code}/"));
            flights
                .entry(key.clone())
                .or_insert_with(|| start_flight(self.inner.clone(), key, url))
                .clone()
        };
        flight.await
    }
}

/// The request for one short link, on its own task so that it finishes (caching its target
/// and leaving `flights`) even when every caller waiting for it has given up. Called with
/// the `flights` lock held, so the task cannot leave `flights` before it is entered there.
fn start_flight(inner: Arc<Inner>, key: String, url: Result<Url, url::ParseError>) -> Flight {
    let task = tokio::spawn({
        let (inner, key) = (inner.clone(), key.clone());
        async move {
            let result = match url {
                Ok(url) => inner.fetch(url).await,
                Err(_) => Err(ResolveError::NotShortLink),
            };
            if let Ok(target) = &result {
                lock(&inner.cache).insert(key.clone(), target.clone(), Instant::now());
            }
            lock(&inner.flights).remove(&key);
            result
        }
    });
    async move {
        task.await.unwrap_or_else(|e| {
            lock(&inner.flights).remove(&key);
            Err(ResolveError::Transport(format!(
                "resolver task failed: {e}"
            )))
        })
    }
    .boxed()
    .shared()
}

impl Inner {
    async fn fetch(&self, url: Url) -> Result<Target, ResolveError> {
        let reply = self.http.get(url.clone()).send().await.map_err(|e| {
            if e.is_timeout() {
                ResolveError::Timeout(self.timeout)
            } else {
                ResolveError::Transport(e.without_url().to_string())
            }
        })?;
        let status = reply.status();
        let location = reply.headers().get(reqwest::header::LOCATION);
        let location = match location {
            Some(l) if status.is_redirection() => l,
            _ => {
                return Err(ResolveError::NoRedirect {
                    status: status.as_u16(),
                })
            }
        };
        let location = location
            .to_str()
            .ok()
            .filter(|l| !l.trim().is_empty())
            .ok_or(ResolveError::BadLocation)?;
        // A relative Location is relative to the short link.
        let target = url
            .join(location.trim())
            .map_err(|_| ResolveError::BadLocation)?;
        Ok(classify_location(target.as_str()))
    }
}

fn with_slash(mut base: Url) -> Url {
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Resolved targets by `host/code`, each with the time it was stored. `order` lists keys
/// oldest first (a key stored again leaves a stale entry there, skipped by its time).
struct Cache {
    map: HashMap<String, (Target, Instant)>,
    order: VecDeque<(String, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl Cache {
    fn new(capacity: usize, ttl: Duration) -> Self {
        Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn get(&mut self, key: &str, now: Instant) -> Option<Target> {
        match self.map.get(key) {
            Some((target, at)) if now.saturating_duration_since(*at) < self.ttl => {
                Some(target.clone())
            }
            Some(_) => {
                self.map.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: String, target: Target, now: Instant) {
        while self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            let Some((old, at)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|(_, stored)| *stored == at) {
                self.map.remove(&old);
            }
        }
        self.order.push_back((key.clone(), now));
        self.map.insert(key, (target, now));
        // Keys stored again leave stale entries; keep `order` from growing past the map.
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            self.order
                .retain(|(k, at)| map.get(k).is_some_and(|(_, stored)| stored == at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3684773501413228571";

    fn product(id: &str) -> Target {
        Target::Product { id: id.into() }
    }

    fn not(kind: NotProduct) -> Target {
        Target::NotProduct(kind)
    }

    #[test]
    fn product_pages_give_their_id() {
        for (location, id) in [
            (format!("https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={ID}&goods_detail=%7B%22title%22%3A%22x%22%7D&origin_type=604"), ID),
            (format!("https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?origin_type=604&id={ID}&room_id=7318296342189919011&aweme_id=7065264218437717285"), ID),
            ("https://haohuo.jinritemai.com/views/product/detail?id=351074636559038".into(), "351074636559038"),
            (format!("https://ecom.jinritemai.com/some/page?product_id={ID}"), ID),
            (format!("https://haohuo.douyin.com/views/product/item?goods_id={ID}"), ID),
            (format!("sslocal://ec_goods_detail?product_id={ID}&promotion_id=3552098369008746198"), ID),
            (format!("snssdk1128://ec_goods_detail?id={ID}"), ID),
            (format!("https://www.douyin.com/product/{ID}?previous_page=app_code_link"), ID),
            (format!("https://www.iesdouyin.com/some/landing?product_id={ID}"), ID),
            // The app deeplink carried in a parameter (z.douyin.com wraps it so).
            (format!("https://z.douyin.com/YCvp?scheme=snssdk1128%3A%2F%2Fec_goods_detail%3Fproduct_id%3D{ID}%26enter_from%3Dnew_h5_product_detail"), ID),
            (format!("  https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={ID}\n"), ID),
        ] {
            assert_eq!(classify_location(&location), product(id), "{location}");
        }
    }

    #[test]
    fn promotion_ids_and_shop_ids_are_not_product_ids() {
        for location in [
            "snssdk1128://ec_goods_detail?promotion_id=3552098369008746198&enter_from=h5_product_detail",
            "https://haohuo.jinritemai.com/views/shop/multipleLicenses?id=3552098369008746198",
            "https://haohuo.jinritemai.com/views/shop/index?id=3552098369008746198",
            "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=123",
            "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=36847735014132285x1",
            "https://www.example.com/item?id=3684773501413228571",
            "https://mix.jinritemai.com/falcon/mix_page/index.html",
        ] {
            assert!(
                matches!(classify_location(location), Target::Unknown { .. }),
                "{location}"
            );
        }
    }

    #[test]
    fn videos_notes_lives_and_profiles_are_not_products() {
        use NotProduct::*;
        for (location, kind) in [
            ("https://www.iesdouyin.com/share/video/6861139873160547597/?region=CN&mid=6861139991868017415&u_code=icjh10i6&titleType=title&utm_source=copy_link&utm_campaign=client_share&utm_medium=android&app=aweme", NotProduct::Video),
            ("https://www.douyin.com/video/7600582328104095030?previous_page=app_code_link", NotProduct::Video),
            ("https://www.iesdouyin.com/share/video/7065264218437717285/?product_id=3684773501413228571", NotProduct::Video),
            ("https://www.douyin.com/discover?modal_id=7065264218437717285", NotProduct::Video),
            ("https://www.douyin.com/user/MS4wLjABAAAA?modal_id=7065264218437717285", NotProduct::Video),
            ("https://www.iesdouyin.com/aweme/v1/web/aweme/detail/?aweme_id=7065264218437717285", NotProduct::Video),
            ("https://www.iesdouyin.com/share/note/7469411074119322899/", NotProduct::Note),
            ("https://www.iesdouyin.com/share/slides/7469411074119322899/?region=CN", NotProduct::Note),
            ("https://www.douyin.com/note/7469411074119322899", NotProduct::Note),
            ("https://webcast.amemv.com/douyin/webcast/reflow/7318296342189919011?u_code=l1j9bkbd&with_sec_did=1&ecom_share_track_params=%7B%22is_ec_shopping%22%3A%221%22%7D&sec_user_id=MS4wLjABAAAA", NotProduct::Live),
            ("https://live.douyin.com/775841227732?room_id=7318296342189919011&enter_from_merge=web_share_link&enter_method=web_share_link&previous_page=app_code_link", NotProduct::Live),
            ("https://live.douyin.com/775841227732", NotProduct::Live),
            ("https://www.iesdouyin.com/share/live/7318296342189919011", NotProduct::Live),
            ("https://www.douyin.com/follow?room_id=7318296342189919011", NotProduct::Live),
            ("https://www.iesdouyin.com/share/user/?sec_uid=MS4wLjABAAAAnzRLpvV9w2jXzWhHSsG5D4SoqfYazU1", NotProduct::Profile),
            ("https://www.iesdouyin.com/share/user/93763913776?u_code=10k31chi7&sec_uid=MS4wLjABAAAAnzRLpvV9w2jX&timestamp=1563157689", NotProduct::Profile),
            ("https://www.douyin.com/user/MS4wLjABAAAAnzRLpvV9w2jXzWhHSsG5D4SoqfYazU1", NotProduct::Profile),
        ] {
            assert_eq!(classify_location(location), not(kind), "{location}");
        }
        let names = [Video, Note, Live, Profile].map(NotProduct::as_str);
        assert_eq!(names, ["video", "note", "live", "profile"]);
    }

    #[test]
    fn unknown_targets_keep_a_clipped_location() {
        assert_eq!(
            classify_location("https://www.douyin.com/hashtag/1668396086001165"),
            Target::Unknown {
                location: "https://www.douyin.com/hashtag/1668396086001165".into()
            }
        );
        for garbage in ["", "not a url", "://", "抖音"] {
            assert!(matches!(classify_location(garbage), Target::Unknown { .. }));
        }
        let long = format!("https://www.douyin.com/x?a={}", "抖".repeat(400));
        let Target::Unknown { location } = classify_location(&long) else {
            panic!("not unknown");
        };
        assert!(location.len() <= LOCATION_KEPT && long.starts_with(&location));
    }

    #[test]
    fn the_cache_forgets_after_its_ttl_and_drops_the_oldest_when_full() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut cache = Cache::new(2, ttl);
        cache.insert("a".into(), product("1"), t0);
        cache.insert("b".into(), product("2"), t0 + Duration::from_secs(1));
        assert_eq!(
            cache.get("a", t0 + Duration::from_secs(9)),
            Some(product("1"))
        );
        assert_eq!(cache.get("a", t0 + ttl), None);
        assert_eq!(cache.len(), 1);

        cache.insert("a".into(), product("1"), t0 + Duration::from_secs(11));
        cache.insert("c".into(), product("3"), t0 + Duration::from_secs(12));
        let now = t0 + Duration::from_secs(12);
        assert_eq!(cache.get("b", now), None, "the oldest went first");
        assert_eq!(cache.get("a", now), Some(product("1")));
        assert_eq!(cache.get("c", now), Some(product("3")));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_cache_order_stays_bounded_when_keys_are_stored_again() {
        let t0 = Instant::now();
        let mut cache = Cache::new(3, Duration::from_secs(1));
        for i in 0..100u64 {
            cache.insert("same".into(), product("1"), t0 + Duration::from_secs(2 * i));
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.order.len() <= 6);
    }
}
