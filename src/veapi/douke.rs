//! 抖客 orders (`VEAPI_PROVIDER=douke`): `douke/douke_OrderAds`.
//!
//! 抖客 (not 达人) accounts convert through kol_ProductShare like 达人 but read their
//! orders here. The orders carry the kol order fields, attribution in
//! `pid_info.external_info`; paging starts at cursor `"0"` and pages hold up to 200.

use super::orders::{parse_orders, window_params};
use super::{OrderSource, OrdersPage, Provider, VeapiClient, VeapiError, Window};
use futures::future::BoxFuture;

/// Orders asked for per page (`size` ≤ 200: fewer calls per catch-up).
pub const DOUKE_PAGE_SIZE: usize = 100;

/// `douke_OrderAds`.
pub struct DoukeOrders(pub VeapiClient);

impl OrderSource for DoukeOrders {
    fn page<'a>(
        &'a self,
        window: &'a Window,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(async move {
            // Documented: size (≤ 200), cursor ("0" first), time_type, the window.
            let size = DOUKE_PAGE_SIZE.to_string();
            let params = window_params(window, &size, Some(cursor.unwrap_or("0")));
            parse_orders(
                self.0
                    .call(Provider::Douke.orders_endpoint(), &params)
                    .await?,
            )
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
}
