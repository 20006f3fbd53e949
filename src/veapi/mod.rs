//! veapi (api.veapi.cn): the upstream that converts links and lists orders.
//!
//! One `reqwest::Client` (connection reuse), the base URL injected so tests point it at a
//! loopback fake, and every call sent as a POST form so the vekey never sits in a URL that
//! an error or a log line could print.

mod orders;
mod share;

pub use orders::{
    parse_orders, FlowPoint, Order, OrderSource, OrdersPage, PidInfo, Window, PAGE_SIZE,
};
pub use share::{Coupon, ShareLink, ShareRequest};

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
pub fn classify(code: &str, msg: &str) -> ErrorClass {
    let lower = msg.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    // Order matters: "vekey不存在" is about the key, "商品不存在" about the product.
    if code == "256" || has(&["频繁", "限流", "打瞌睡", "繁忙", "too many"]) {
        ErrorClass::Throttled
    } else if has(&["vekey"]) {
        ErrorClass::KeyOrQuota
    } else if matches!(code, "10008" | "2190008" | "10010")
        || has(&["授权", "token", "过期", "无效 pid", "无效pid"])
    {
        ErrorClass::Authorization
    } else if has(&["会员", "余量", "次数", "额度", "充值"]) {
        ErrorClass::KeyOrQuota
    } else if has(&[
        "精选联盟",
        "下架",
        "不存在",
        "不支持",
        "无效商品",
        "风险类目",
        "指定作者",
        "转链失败",
        "商品",
    ]) {
        ErrorClass::Product
    } else if has(&["到期", "key"]) {
        ErrorClass::KeyOrQuota
    } else if has(&["稍后再试", "稍后重试"]) {
        ErrorClass::Throttled
    } else {
        ErrorClass::Other
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
    pub fn new(cfg: &VeapiConfig) -> Result<Self, VeapiError> {
        Self::with_timeouts(cfg, CONNECT_TIMEOUT.min(cfg.timeout), cfg.timeout)
    }

    pub fn with_timeouts(
        cfg: &VeapiConfig,
        connect: Duration,
        total: Duration,
    ) -> Result<Self, VeapiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .pool_idle_timeout(Duration::from_secs(60))
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
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport(path, e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.transport(path, e))?;
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
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        VeapiError::Transport(self.scrub(&format!("{path}: {kind}: {}", e.without_url())))
    }

    fn check_envelope(&self, value: Value) -> Result<Value, VeapiError> {
        let code = match value.get("error") {
            None | Some(Value::Null) => "0".to_string(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => other.to_string(),
        };
        if code == "0" || code.is_empty() {
            return Ok(value);
        }
        let msg = self.scrub(value.get("msg").and_then(Value::as_str).unwrap_or_default());
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
}
