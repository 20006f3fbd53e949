//! Issue 9, item 13: an `https://` VEAPI_BASE_URL works. The client talks TLS to a loopback
//! front with a certificate made for this test, trusting it as an extra root; without that
//! root the same call is refused, so the certificate is really checked.

mod support;

use douyin_link_bot::veapi::{ErrorClass, ShareRequest, VeapiClient};
use support::veapi::{veapi_config, TlsFront};
use support::*;

const REQ: ShareRequest<'static> = ShareRequest {
    product_url: "https://v.douyin.com/Ay1Q2QU/",
    external_info: "dlb_rsx",
    use_coupon: false,
};

#[tokio::test]
async fn an_https_base_url_converts_over_tls_with_the_key_in_the_encrypted_body() {
    let server = wiremock::MockServer::start().await;
    share_reply(&server, None, json_body("veapi/share_ok.json")).await;
    let front = TlsFront::start(&server).await;
    assert!(front.url.starts_with("https://"));

    let client =
        VeapiClient::with_extra_root(&veapi_config(&front.url), front.ca_pem.as_bytes()).unwrap();
    let link = client.product_share(&REQ).await.unwrap();
    assert!(!link.dy_password.is_empty());
    let calls = share_calls(&server).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["vekey"], VEKEY);
    assert_eq!(calls[0]["productUrl"], REQ.product_url);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_anything_is_sent() {
    let server = wiremock::MockServer::start().await;
    share_reply(&server, None, json_body("veapi/share_ok.json")).await;
    let front = TlsFront::start(&server).await;

    let client = VeapiClient::new(&veapi_config(&front.url)).unwrap();
    let err = client.product_share(&REQ).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transport, "{err}");
    assert!(!err.to_string().contains(VEKEY));
    assert!(share_calls(&server).await.is_empty());
}
