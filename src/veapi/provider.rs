//! The upstream seam: which veapi endpoints convert links and list orders.
//!
//! veapi closed the 精选联盟 kol endpoints for new sign-ups and points them at 穿山甲 (csj),
//! and 抖客 accounts read their orders from another endpoint than 达人 accounts. So the bot
//! talks to one [`LinkMaker`] and one [`OrderSource`], chosen by `VEAPI_PROVIDER`, and
//! nothing past them (cache, replies, poller, notifier) knows which provider runs. Each
//! provider maps its own replies into [`ShareLink`] and [`Order`](super::Order).

use super::{
    Detailed, OrderSource, ProductDetails, ShareLink, ShareRequest, VeapiClient, VeapiError,
};
use crate::config::VeapiConfig;
use futures::future::BoxFuture;
use std::sync::Arc;

/// `VEAPI_PROVIDER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Provider {
    /// 达人: `douke/kol_ProductShare` + `douyin/alliance_kol_orders`.
    #[default]
    Kol,
    /// 抖客: `douke/kol_ProductShare` + `douke/douke_OrderAds`.
    Douke,
    /// 穿山甲: `douke/csj_productlink` + `douke/csj_ordersearch`.
    Csj,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Kol, Provider::Douke, Provider::Csj];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Kol => "kol",
            Provider::Douke => "douke",
            Provider::Csj => "csj",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The endpoint that converts links.
    pub fn share_endpoint(self) -> &'static str {
        match self {
            Provider::Kol | Provider::Douke => "douke/kol_ProductShare",
            Provider::Csj => "douke/csj_productlink",
        }
    }

    /// The endpoint that lists orders.
    pub fn orders_endpoint(self) -> &'static str {
        match self {
            Provider::Kol => "douyin/alliance_kol_orders",
            Provider::Douke => "douke/douke_OrderAds",
            Provider::Csj => "douke/csj_ordersearch",
        }
    }

    /// Whether the link endpoint takes a reference as people paste it (抖口令, short link)
    /// or only a product id or product URL (csj: "与商品接口detail_url一致").
    pub fn needs_product_url(self) -> bool {
        self == Provider::Csj
    }

    /// `RESOLVE_SHORT_LINKS`'s default: on where short links cannot be passed as they are.
    pub fn resolves_short_links_by_default(self) -> bool {
        self.needs_product_url()
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Converts one product reference into the operator's share link.
pub trait LinkMaker: Send + Sync + 'static {
    fn share<'a>(
        &'a self,
        req: &'a ShareRequest<'a>,
    ) -> BoxFuture<'a, Result<ShareLink, VeapiError>>;

    /// [`share`](Self::share) asking for the product's details on the same call, where the
    /// endpoint can give them (kol_ProductShare `detail=3`). By default: none.
    fn share_detailed<'a>(
        &'a self,
        req: &'a ShareRequest<'a>,
    ) -> BoxFuture<'a, Result<Detailed, VeapiError>> {
        Box::pin(async move {
            Ok(Detailed {
                link: self.share(req).await?,
                details: None,
            })
        })
    }

    /// Details of up to [`super::DETAILS_BATCH`] products by id, for conversions whose reply
    /// carried none. By default (an endpoint family without such a lookup): none.
    fn details<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ProductDetails>, VeapiError>> {
        let _ = ids;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Whether every call slot is taken right now (`VEAPI_MAX_IN_FLIGHT`): a call made now
    /// waits for one first, so its slowness is the bot's load, not upstream's health.
    fn saturated(&self) -> bool {
        false
    }
}

/// The provider's two halves over one client (one connection pool, one in-flight ceiling).
#[derive(Clone)]
pub struct Upstream {
    pub provider: Provider,
    pub links: Arc<dyn LinkMaker>,
    pub orders: Arc<dyn OrderSource>,
}

impl Upstream {
    pub fn new(client: VeapiClient, provider: Provider) -> Upstream {
        let ignored = ignored_variables(client.config(), provider);
        if !ignored.is_empty() {
            tracing::warn!(
                %provider,
                ignored = %ignored.join(", "),
                "these variables are not parameters of this provider's endpoints and are not sent: the default account of the vekey is used"
            );
        }
        let links: Arc<dyn LinkMaker> = match provider {
            Provider::Kol | Provider::Douke => Arc::new(client.clone()),
            Provider::Csj => Arc::new(super::csj::CsjLinks(client.clone())),
        };
        let orders: Arc<dyn OrderSource> = match provider {
            Provider::Kol => Arc::new(client),
            Provider::Douke => Arc::new(super::douke::DoukeOrders(client)),
            Provider::Csj => Arc::new(super::csj::CsjOrders(client)),
        };
        Upstream {
            provider,
            links,
            orders,
        }
    }
}

/// Account variables set in the configuration that `provider`'s endpoints do not take
/// (their documentation does not list them): they would be dropped silently, and the vekey's
/// default account used instead.
pub fn ignored_variables(cfg: &VeapiConfig, provider: Provider) -> Vec<&'static str> {
    use Provider::*;
    [
        ("VEAPI_PID", cfg.pid.is_some(), provider == Csj),
        (
            "VEAPI_ACCESS_TOKEN",
            cfg.access_token.is_some(),
            provider == Csj,
        ),
        (
            "VEAPI_ACCOUNT_ID",
            cfg.account_id.is_some(),
            provider == Csj,
        ),
        (
            "VEAPI_SESSIONKEY",
            cfg.sessionkey.is_some(),
            provider == Csj,
        ),
        ("VEAPI_OPEN_ID", cfg.open_id.is_some(), provider != Kol),
    ]
    .into_iter()
    .filter(|(_, set, unused)| *set && *unused)
    .map(|(name, _, _)| name)
    .collect()
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(Provider::parse(" CSJ "), Some(Provider::Csj));
        assert_eq!(Provider::parse("pangle"), None);
    }
}
