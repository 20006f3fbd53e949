//! 抖客 orders (`VEAPI_PROVIDER=douke`): `douke/douke_OrderAds`.
//!
//! 抖客 (not 达人) accounts convert through kol_ProductShare like 达人 but read their
//! orders here. veapi's page (www.veapi.cn/apidoc/douyindouke/330, 独立抖客分销订单查询):
//! `size` 1–200, `cursor` `"0"` first, `start_time`/`end_time`, `order_ids` (≤ 10, instead
//! of a window), `pid`, `distribution_type`, `time_type`, `query_order_type`, and
//! `sessionkey` for multi-account cards ("如果多用户可传入sessionkey参数"). The orders carry
//! the kol order fields, attribution in `pid_info.external_info`.

use super::orders::{joined_ids, parse_orders, window_params};
use super::{OrderSource, OrdersPage, Provider, VeapiClient, VeapiError, Window};
use futures::future::BoxFuture;

/// Orders asked for per page (`size` ≤ 200: fewer calls per catch-up).
pub const DOUKE_PAGE_SIZE: usize = 100;

/// `douke_OrderAds`.
pub struct DoukeOrders(pub VeapiClient);

impl DoukeOrders {
    async fn call(&self, mut params: Vec<(&str, &str)>) -> Result<OrdersPage, VeapiError> {
        if let Some(s) = &self.0.config().sessionkey {
            params.push(("sessionkey", s.expose()));
        }
        parse_orders(
            self.0
                .call(Provider::Douke.orders_endpoint(), &params)
                .await?,
        )
    }
}

impl OrderSource for DoukeOrders {
    fn page<'a>(
        &'a self,
        window: &'a Window,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(async move {
            let size = DOUKE_PAGE_SIZE.to_string();
            self.call(window_params(window, &size, Some(cursor.unwrap_or("0"))))
                .await
        })
    }

    /// How full this endpoint's pages are is not documented: follow every new cursor.
    fn short_page_is_last(&self) -> bool {
        false
    }

    fn page_size(&self) -> usize {
        DOUKE_PAGE_SIZE
    }

    fn provider(&self) -> Provider {
        Provider::Douke
    }

    fn by_ids<'a>(&'a self, ids: &'a [&'a str]) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(async move {
            let joined = joined_ids(ids);
            self.call(vec![("order_ids", joined.as_str())]).await
        })
    }
}
