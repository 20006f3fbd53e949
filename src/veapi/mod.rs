//! veapi (api.veapi.cn): the upstream that converts links and lists orders.
//!
//! One `reqwest::Client` (connection reuse), the base URL injected so tests point it at a
//! loopback fake, and every call sent as a POST form so the vekey never sits in a URL that
//! an error or a log line could print.

mod csj;
mod details;
mod douke;
mod orders;
mod provider;
mod share;

pub use csj::{parse_csj_orders, CsjLinks, CsjOrders, CSJ_PAGE_SIZE};
pub use details::{ProductDetails, DETAILS_BATCH, DETAILS_ENDPOINT};
pub use douke::{DoukeOrders, DOUKE_PAGE_SIZE};
pub use orders::{
    parse_orders, FlowPoint, Order, OrderSource, OrdersPage, PidInfo, Unreadable, Window, PAGE_SIZE,
};
pub use provider::{ignored_variables, LinkMaker, Provider, Upstream};
pub use share::{Coupon, Detailed, ShareLink, ShareRequest};

use crate::config::VeapiConfig;
use crate::secret::Secret;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Semaphore;
use url::Url;

/// Connecting takes one round trip; waiting longer than this means veapi is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a failure means for whoever has to act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The product cannot be converted (not in the alliance, taken down, …): tell the user.
    Product,
    /// The 达人/抖客 authorization expired or is missing: the operator must re-authorize.
    Authorization,
    /// The vekey is invalid, expired or out of quota: the operator must act.
    KeyOrQuota,
    /// veapi or Douyin asks us to slow down: back off and retry.
    Throttled,
    /// No usable reply (network, timeout, HTTP status, not JSON).
    Transport,
    /// A refusal we cannot classify; `msg` says what upstream said.
    Other,
    /// A success in a shape the bot cannot read (an undocumented reply changed): the
    /// operator must look; nothing is guessed.
    Unexpected,
}

impl ErrorClass {
    /// Worth retrying later without anyone acting.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transport)
    }
}

#[derive(Debug, Clone, Error)]
pub enum VeapiError {
    #[error("veapi refused the call (error {code}, {class:?}): {msg}")]
    Api {
        class: ErrorClass,
        code: String,
        msg: String,
        request_id: Option<String>,
    },
    #[error("veapi unreachable: {0}")]
    Transport(String),
}

impl VeapiError {
    pub fn class(&self) -> ErrorClass {
        match self {
            VeapiError::Api { class, .. } => *class,
            VeapiError::Transport(_) => ErrorClass::Transport,
        }
    }

    /// veapi's own explanation, when it gave one.
    pub fn upstream_msg(&self) -> Option<&str> {
        match self {
            VeapiError::Api { msg, .. } if !msg.is_empty() => Some(msg),
            _ => None,
        }
    }
}

/// Classifies a refusal by its code and by words of its message: veapi publishes no code
/// table and forwards Douyin's messages, so both are needed (see `shared/veapi.md`).
///
/// Douyin's token codes come first (they mean the operator's authorization whatever the
/// words). Then product words before operator words: `团长活动已过期` and `商品未授权推广`
/// say "过期" and "授权" but are about one product, and answering them with "authorization
/// expired" would page the operator for something only the user can change.
pub fn classify(code: &str, msg: &str) -> ErrorClass {
    let lower = msg.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if code == "256" || has(&["频繁", "限流", "打瞌睡", "繁忙", "too many"]) {
        ErrorClass::Throttled
    } else if has(&["vekey"]) {
        // "vekey不存在" is about the key, "商品不存在" about the product.
        ErrorClass::KeyOrQuota
    } else if matches!(code, "10008" | "2190008" | "10010") {
        ErrorClass::Authorization
    } else if has(PRODUCT_WORDS) {
        ErrorClass::Product
    } else if has(&["授权", "token", "过期", "无效 pid", "无效pid"]) {
        ErrorClass::Authorization
    } else if has(&["会员", "余量", "次数", "额度", "充值"]) {
        ErrorClass::KeyOrQuota
    } else if has(&["不存在", "不支持", "转链失败", "商品"]) {
        ErrorClass::Product
    } else if has(&["到期", "key"]) {
        ErrorClass::KeyOrQuota
    } else if has(&["稍后再试", "稍后重试"]) {
        ErrorClass::Throttled
    } else {
        ErrorClass::Other
    }
}

/// Whether a refusal names a specific product problem (taken down, not in the alliance…), as
/// opposed to the broad words [`classify`] also reads as the product's ("转链失败", "不支持").
pub(crate) fn names_the_product(msg: &str) -> bool {
    let lower = msg.to_lowercase();
    PRODUCT_WORDS.iter().any(|w| lower.contains(w))
}

/// Words that tie a refusal to the product (or its 团长 activity), whatever else it says.
/// From buyin.kolProductShare's sub-messages (`shared/veapi.md`; a public Douyin SDK's
/// `DouyinRetCode` table for `buyin.kolProductShare`) and issue 9.
/// (`精选联盟` alone is not one: "未开通精选联盟" is about the operator's account.)
const PRODUCT_WORDS: &[&str] = &[
    "下架",
    "上架",
    "无效商品",
    "商品不存在",
    "风险类目",
    "类目",
    "指定作者",
    "指定达人",
    "团长",
    "活动已过期",
    "活动已结束",
    "商品未授权",
    "未授权推广",
    "推广未开启",
    "测试商品",
    "站外分享",
    "暂不支持分销",
    "暂不支持转链",
    // buyin 4132 "商品没有加入精选联盟": the product's, unlike "账号未开通精选联盟权限"
    // or "账号未加入精选联盟".
    "商品没有加入精选联盟",
    "商品未加入精选联盟",
];

/// What kind of failure a request met on the wire, in words.
pub(crate) fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[derive(Clone)]
pub struct VeapiClient {
    http: reqwest::Client,
    base: Url,
    cfg: Arc<VeapiConfig>,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for VeapiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VeapiClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl VeapiClient {
    /// Whether every call slot (`VEAPI_MAX_IN_FLIGHT`) is taken right now.
    pub fn saturated(&self) -> bool {
        self.in_flight.available_permits() == 0
    }

    pub fn new(cfg: &VeapiConfig) -> Result<Self, VeapiError> {
        Self::with_timeouts(cfg, CONNECT_TIMEOUT.min(cfg.timeout), cfg.timeout)
    }

    pub fn with_timeouts(
        cfg: &VeapiConfig,
        connect: Duration,
        total: Duration,
    ) -> Result<Self, VeapiError> {
        Self::build(cfg, connect, total, None)
    }

    /// A client that also trusts `root_pem` (a PEM certificate) for an `https://` base URL,
    /// beside the public roots it always trusts: for a TLS proxy with a private CA, and for
    /// the tests' loopback TLS fake.
    pub fn with_extra_root(cfg: &VeapiConfig, root_pem: &[u8]) -> Result<Self, VeapiError> {
        let cert = reqwest::Certificate::from_pem(root_pem)
            .map_err(|e| VeapiError::Transport(format!("bad root certificate: {e}")))?;
        Self::build(
            cfg,
            CONNECT_TIMEOUT.min(cfg.timeout),
            cfg.timeout,
            Some(cert),
        )
    }

    fn build(
        cfg: &VeapiConfig,
        connect: Duration,
        total: Duration,
        extra_root: Option<reqwest::Certificate>,
    ) -> Result<Self, VeapiError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .pool_idle_timeout(Duration::from_secs(60))
            .https_only(cfg.base_url.scheme() == "https");
        if let Some(cert) = extra_root {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| VeapiError::Transport(e.without_url().to_string()))?;
        let mut base = cfg.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(VeapiClient {
            http,
            base,
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            cfg: Arc::new(cfg.clone()),
        })
    }

    pub(crate) fn config(&self) -> &VeapiConfig {
        &self.cfg
    }

    /// Calls `path` with `params` (the vekey added) and returns the envelope's JSON after
    /// checking `error`; refusals come back classified.
    pub(crate) async fn call(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, VeapiError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| VeapiError::Transport(format!("bad path {path}: {e}")))?;
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 1);
        form.push(("vekey", self.cfg.key.expose()));
        form.extend_from_slice(params);

        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| VeapiError::Transport("client shut down".into()))?;
        let started = std::time::Instant::now();
        let reply = async {
            let resp = self
                .http
                .post(url)
                .form(&form)
                .send()
                .await
                .map_err(|e| self.transport(path, e))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| self.transport(path, e))?;
            Ok::<_, VeapiError>((status, body))
        }
        .await;
        // Failures too: a timeout is exactly the latency worth seeing.
        metrics::histogram!(crate::http::metrics::VEAPI_CALL_SECONDS, "endpoint" => path.to_string())
            .record(started.elapsed().as_secs_f64());
        let (status, body) = reply?;
        tracing::debug!(
            path,
            status = status.as_u16(),
            bytes = body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "veapi reply"
        );
        if !status.is_success() {
            return Err(VeapiError::Transport(format!("{path}: HTTP {status}")));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| VeapiError::Transport(format!("{path}: reply is not JSON ({e})")))?;
        self.check_envelope(value)
    }

    fn transport(&self, path: &str, e: reqwest::Error) -> VeapiError {
        let kind = failure_kind(&e);
        VeapiError::Transport(self.scrub(&format!("{path}: {kind}: {}", e.without_url())))
    }

    /// veapi's envelope: `error` `"0"` (or `0`) is success, anything else a refusal. A reply
    /// without `error` that carries a non-zero `code` (`{"code":…,"message":…}`, the shape
    /// of gateways and of other APIs) is a refusal too, never a success with no data.
    fn check_envelope(&self, value: Value) -> Result<Value, VeapiError> {
        let text = |v: Option<&Value>| match v {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => Some(other.to_string()),
        };
        let code = match text(value.get("error")) {
            Some(code) => code,
            None => text(value.get("code")).unwrap_or_default(),
        };
        if code == "0" || code.is_empty() {
            return Ok(value);
        }
        let msg = ["msg", "message", "sub_msg"]
            .iter()
            .find_map(|k| {
                value
                    .get(*k)
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
            })
            .unwrap_or_default();
        let msg = self.scrub(msg);
        Err(VeapiError::Api {
            class: classify(&code, &msg),
            code,
            msg,
            request_id: value
                .get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// Upstream messages may echo what we sent; never let a secret through.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let secrets: [Option<&Secret>; 3] = [
            Some(&self.cfg.key),
            self.cfg.access_token.as_ref(),
            self.cfg.sessionkey.as_ref(),
        ];
        for s in secrets.into_iter().flatten() {
            if !s.expose().is_empty() {
                out = out.replace(s.expose(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_codes_and_words() {
        assert_eq!(
            classify("4132", "商品没有加入精选联盟"),
            ErrorClass::Product
        );
        assert_eq!(
            classify("15", "产品或活动转链失败，请检查参数"),
            ErrorClass::Product
        );
        assert_eq!(
            classify("10008", "access token expired"),
            ErrorClass::Authorization
        );
        assert_eq!(
            classify("1", "请先在会员中心授权"),
            ErrorClass::Authorization
        );
        assert_eq!(classify("2", "vekey不存在或已到期"), ErrorClass::KeyOrQuota);
        assert_eq!(classify("3", "今日调用次数已用完"), ErrorClass::KeyOrQuota);
        assert_eq!(
            classify("256", "服务打瞌睡了，请稍后再试"),
            ErrorClass::Throttled
        );
        assert_eq!(classify("9", "请求过于频繁"), ErrorClass::Throttled);
        assert_eq!(classify("77", "未知错误"), ErrorClass::Other);
    }

    /// Real refusals. Sources: [issue] issue 9 item 12; [veapi.md] `shared/veapi.md`'s list of
    /// buyin.kolProductShare sub-messages; [sdk] the `DouyinRetCode` table of
    /// `buyin.kolProductShare` in a public C# Douyin SDK (`BuyinKolProductShareReq`), with
    /// its sub-code.
    #[test]
    fn product_refusals_are_the_users_not_the_operators() {
        use ErrorClass::*;
        let table: &[(&str, &str, ErrorClass)] = &[
            // [issue]: they say 过期 and 授权, but about one product.
            ("1", "团长活动已过期", Product),
            ("1", "商品未授权推广", Product),
            // [sdk] isv.business-failed:1102
            ("1", "二级团长活动商品暂不支持分销", Product),
            // [sdk] isv.business-failed:4422
            ("1", "团长佣金查询失败，请确认参数后重试", Product),
            // [sdk] 4354, 4133, 4400, 4104, 4115, 4132, 4360, 4613, 507, 1025, 4407
            ("1", "当前商品推广未开启，请更换商品推广", Product),
            ("1", "商品已下架", Product),
            ("1", "商品非上架状态", Product),
            ("1", "当前商品暂不支持站外分享", Product),
            ("1", "商品属于风险类目，不可转链分享", Product),
            ("4132", "商品没有加入精选联盟", Product),
            ("1", "商品为平台测试商品，暂不支持添加推广", Product),
            (
                "1",
                "该类目商品仅平台指定达人可以绑定，请选择其他商品",
                Product,
            ),
            ("1", "商品所属的类目不支持推广，请添加其他类目商品", Product),
            (
                "1",
                "商家已设置该商品仅指定作者可推广，请您更换其他商品",
                Product,
            ),
            ("1", "需开票商品暂不支持转链", Product),
            // [sdk] 4349, 4134, 4148 (parameter-invalid, about the product reference)
            ("1", "商品不存在", Product),
            ("1", "无效商品URL", Product),
            ("1", "无效商品口令", Product),
            // [veapi.md] veapi's own wrapper message.
            ("15", "产品或活动转链失败，请检查参数…", Product),
            // Operator incidents stay operator incidents.
            ("10008", "access token expired", Authorization),
            // A token code is the operator's whatever product words ride along.
            (
                "10008",
                "团长活动查询失败：access_token已过期",
                Authorization,
            ),
            ("2190008", "商品类目授权校验失败", Authorization),
            // About the operator's account, not a product: not the user's to fix.
            ("1", "账号未开通精选联盟权限", Other),
            ("1", "账号未加入精选联盟", Other),
            ("1", "授权已过期，请到会员中心重新授权", Authorization),
            ("1", "参数校验失败：无效 PID", Authorization), // [sdk] 4102
            ("1", "vekey不存在或已到期", KeyOrQuota),
            ("256", "服务打瞌睡了，请稍后再试", Throttled), // [sdk] isp.service-error:256
        ];
        for (code, msg, want) in table {
            assert_eq!(classify(code, msg), *want, "{code} {msg}");
        }
    }
}
