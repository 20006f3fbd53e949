//! The short-link resolver against a loopback fake of `v.douyin.com`: one GET per link that
//! is not followed, a mobile User-Agent, the target told from the `Location`, errors for
//! replies without a redirect and for a host that does not answer in time, and a cache that
//! keeps targets (not errors) and shares one request between concurrent callers.

use douyin_link_bot::resolve::{NotProduct, ResolveError, ShortLinks, Target, USER_AGENT};
use std::time::{Duration, Instant};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PRODUCT: &str = "3684773501413228571";

// What the real host redirects to (sources cited at `resolve::classify_location`).
fn product_page() -> String {
    format!(
        "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={PRODUCT}\
         &goods_detail=%7B%22title%22%3A%22Golden%20Goose%22%7D&origin_type=3002070010"
    )
}
const VIDEO: &str = "https://www.iesdouyin.com/share/video/6861139873160547597/?region=CN&mid=6861139991868017415&u_code=icjh10i6&titleType=title&utm_source=copy_link&utm_campaign=client_share&utm_medium=android&app=aweme";
const LIVE: &str = "https://webcast.amemv.com/douyin/webcast/reflow/7318296342189919011?u_code=l1j9bkbd&with_sec_did=1&use_link_command=1&ecom_share_track_params=&from=share&style=share&enter_method=click_share&roomId=7318296342189919011";
const PROFILE: &str =
    "https://www.iesdouyin.com/share/user/?sec_uid=MS4wLjABAAAAnzRLpvV9w2jXzWhHSsG5D4SoqfYazU1-fvgm4joaHXQ";
const NOTE: &str = "https://www.iesdouyin.com/share/note/7469411074119322899/?region=CN";

/// The short-link host's answer: `302 Found` with the target in `Location`. (The body is
/// never read by the resolver; a short HTML link like most redirecting servers send.)
fn redirect(to: &str) -> ResponseTemplate {
    ResponseTemplate::new(302)
        .insert_header("Location", to)
        .insert_header("Content-Type", "text/html; charset=utf-8")
        .set_body_string(format!("<a href=\"{to}\">Found</a>."))
}

async fn fake_code(server: &MockServer, code: &str, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/{code}/")))
        .respond_with(reply)
        .mount(server)
        .await;
}

fn resolver(server: &MockServer) -> ShortLinks {
    ShortLinks::new(Url::parse(&server.uri()).unwrap()).unwrap()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

#[tokio::test]
async fn a_product_link_resolves_to_its_id_by_one_mobile_get_of_the_code() {
    let host = MockServer::start().await;
    fake_code(&host, "i2wDMRRN", redirect(&product_page())).await;
    let links = resolver(&host);

    let target = links.resolve("https://v.douyin.com/i2wDMRRN/").await;
    assert_eq!(target, Ok(Target::Product { id: PRODUCT.into() }));

    let seen = requests(&host).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method.as_str(), "GET");
    assert_eq!(seen[0].url.path(), "/i2wDMRRN/");
    let agent = seen[0].headers.get("user-agent").unwrap().to_str().unwrap();
    assert_eq!(agent, USER_AGENT);
    assert!(
        agent.contains("iPhone") && agent.contains("Mobile"),
        "{agent}"
    );
}

#[tokio::test]
async fn videos_live_rooms_profiles_and_notes_are_not_products() {
    let host = MockServer::start().await;
    for (code, to) in [
        ("L5pbfdP", VIDEO),
        ("i8tBR7hX", LIVE),
        ("X8LSqawy", PROFILE),
        ("iP6Uu1Kh", NOTE),
    ] {
        fake_code(&host, code, redirect(to)).await;
    }
    let links = resolver(&host);
    for (link, kind) in [
        ("https://v.douyin.com/L5pbfdP/", NotProduct::Video),
        ("https://v.douyin.com/i8tBR7hX/", NotProduct::Live),
        ("https://v.douyin.com/X8LSqawy/", NotProduct::Profile),
        ("https://v.douyin.com/iP6Uu1Kh/", NotProduct::Note),
    ] {
        assert_eq!(
            links.resolve(link).await,
            Ok(Target::NotProduct(kind)),
            "{link}"
        );
    }
}

#[tokio::test]
async fn the_redirect_is_read_not_followed() {
    let host = MockServer::start().await;
    // The Location points back at the fake, where a followed redirect would be counted.
    let target = format!("{}/share/video/7065264218437717285/?region=CN", host.uri());
    fake_code(&host, "A2VSVxc", redirect(&target)).await;
    Mock::given(path("/share/video/7065264218437717285/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>video</html>"))
        .mount(&host)
        .await;
    // A relative Location is read against the short link, and not followed either.
    fake_code(
        &host,
        "relUser1",
        redirect("/share/user/?sec_uid=MS4wLjABAAAA"),
    )
    .await;

    let links = resolver(&host);
    assert_eq!(
        links.resolve("https://v.douyin.com/A2VSVxc/").await,
        Ok(Target::NotProduct(NotProduct::Video))
    );
    assert_eq!(
        links.resolve("https://v.douyin.com/relUser1/").await,
        Ok(Target::NotProduct(NotProduct::Profile))
    );
    let paths: Vec<String> = requests(&host)
        .await
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(paths, ["/A2VSVxc/", "/relUser1/"]);
}

#[tokio::test]
async fn a_reply_without_a_redirect_is_an_error_not_a_product() {
    let host = MockServer::start().await;
    // A 200 page (for instance a verification page) even if it names a product.
    fake_code(
        &host,
        "page200",
        ResponseTemplate::new(200).set_body_string(format!("<html>{}</html>", product_page())),
    )
    .await;
    fake_code(&host, "noLocation", ResponseTemplate::new(302)).await;
    fake_code(&host, "gone404", ResponseTemplate::new(404)).await;
    fake_code(
        &host,
        "emptyLoc",
        ResponseTemplate::new(302).insert_header("Location", ""),
    )
    .await;
    let links = resolver(&host);

    for (code, error) in [
        ("page200", ResolveError::NoRedirect { status: 200 }),
        ("noLocation", ResolveError::NoRedirect { status: 302 }),
        ("gone404", ResolveError::NoRedirect { status: 404 }),
        ("emptyLoc", ResolveError::BadLocation),
    ] {
        let got = links
            .resolve(&format!("https://v.douyin.com/{code}/"))
            .await;
        assert_eq!(got, Err(error.clone()), "{code}");
        assert!(!error.is_transient());
    }
}

#[tokio::test]
async fn a_host_slower_than_the_timeout_is_a_timeout_error() {
    assert_eq!(douyin_link_bot::resolve::TIMEOUT, Duration::from_secs(3));
    let host = MockServer::start().await;
    fake_code(
        &host,
        "slowOne",
        redirect(&product_page()).set_delay(Duration::from_secs(30)),
    )
    .await;
    let timeout = Duration::from_millis(300);
    let links = ShortLinks::with_timeout(Url::parse(&host.uri()).unwrap(), timeout).unwrap();

    let started = Instant::now();
    let got = links.resolve("https://v.douyin.com/slowOne/").await;
    assert_eq!(got, Err(ResolveError::Timeout(timeout)));
    assert!(got.unwrap_err().is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_host_is_a_transport_error() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let got = ShortLinks::new(base)
        .unwrap()
        .resolve("https://v.douyin.com/Ay1Q2QU/")
        .await;
    assert!(matches!(got, Err(ResolveError::Transport(_))), "{got:?}");
}

#[tokio::test]
async fn a_resolved_link_is_not_asked_again_in_any_spelling() {
    let host = MockServer::start().await;
    fake_code(&host, "Ay1Q2QU", redirect(&product_page())).await;
    let links = resolver(&host);
    let clone = links.clone();

    for link in [
        "https://v.douyin.com/Ay1Q2QU/",
        "https://v.douyin.com/Ay1Q2QU/",
        "v.douyin.com/Ay1Q2QU",
        "HTTP://V.DOUYIN.COM/Ay1Q2QU/",
    ] {
        assert_eq!(
            clone.resolve(link).await,
            Ok(Target::Product { id: PRODUCT.into() })
        );
    }
    assert_eq!(requests(&host).await.len(), 1);
    // Codes are case-sensitive: another code is another request.
    fake_code(&host, "ay1q2qu", redirect(VIDEO)).await;
    assert_eq!(
        links.resolve("https://v.douyin.com/ay1q2qu/").await,
        Ok(Target::NotProduct(NotProduct::Video))
    );
    assert_eq!(requests(&host).await.len(), 2);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let host = MockServer::start().await;
    Mock::given(path("/flaky12/"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&host)
        .await;
    fake_code(&host, "flaky12", redirect(&product_page())).await;
    let links = resolver(&host);

    let link = "https://v.douyin.com/flaky12/";
    assert_eq!(
        links.resolve(link).await,
        Err(ResolveError::NoRedirect { status: 503 })
    );
    let product = Ok(Target::Product { id: PRODUCT.into() });
    assert_eq!(links.resolve(link).await, product);
    assert_eq!(links.resolve(link).await, product);
    assert_eq!(requests(&host).await.len(), 2);
}

#[tokio::test]
async fn concurrent_resolutions_of_one_link_share_one_request() {
    let host = MockServer::start().await;
    fake_code(
        &host,
        "together",
        redirect(&product_page()).set_delay(Duration::from_millis(200)),
    )
    .await;
    let links = resolver(&host);

    let all = futures::future::join_all((0..8).map(|_| {
        let links = links.clone();
        async move { links.resolve("https://v.douyin.com/together/").await }
    }))
    .await;
    for got in all {
        assert_eq!(got, Ok(Target::Product { id: PRODUCT.into() }));
    }
    assert_eq!(requests(&host).await.len(), 1);
}

#[tokio::test]
async fn buydouke_codes_are_asked_of_their_own_host() {
    let douyin = MockServer::start().await;
    let buydouke = MockServer::start().await;
    fake_code(&buydouke, "abcD123", redirect(&product_page())).await;
    let links = resolver(&douyin)
        .with_buydouke_base(Url::parse(&buydouke.uri()).unwrap())
        .unwrap();

    assert_eq!(
        links.resolve("https://v.buydouke.com/abcD123/").await,
        Ok(Target::Product { id: PRODUCT.into() })
    );
    assert!(requests(&douyin).await.is_empty());
    assert_eq!(requests(&buydouke).await.len(), 1);
}

#[tokio::test]
async fn debug_shows_the_base_and_no_targets() {
    let host = MockServer::start().await;
    fake_code(&host, "dbgLink", redirect(PROFILE)).await;
    let links = resolver(&host);
    links
        .resolve("https://v.douyin.com/dbgLink/")
        .await
        .unwrap();
    let shown = format!("{links:?}");
    assert!(shown.contains(&host.uri()), "{shown}");
    assert!(
        !shown.contains("sec_uid") && !shown.contains("dbgLink"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_caller_giving_up_does_not_cost_the_next_one_a_request() {
    let host = MockServer::start().await;
    fake_code(
        &host,
        "patient",
        redirect(&product_page()).set_delay(Duration::from_millis(300)),
    )
    .await;
    let links = resolver(&host);
    let link = "https://v.douyin.com/patient/";

    let impatient = tokio::time::timeout(Duration::from_millis(50), links.resolve(link)).await;
    assert!(impatient.is_err(), "the first caller gave up");
    // The request went on without it: the next caller joins it or finds its target cached.
    assert_eq!(
        links.resolve(link).await,
        Ok(Target::Product { id: PRODUCT.into() })
    );
    assert_eq!(requests(&host).await.len(), 1);
}

#[tokio::test]
async fn only_short_links_are_resolved_and_nothing_is_asked_for_others() {
    let host = MockServer::start().await;
    let links = resolver(&host);
    for text in [
        "https://www.douyin.com/video/7600582328104095030",
        "https://iv.douyin.com/Ay1Q2QU/",
        "https://v.douyin.com/Ay1Q2QU/extra",
        "https://v.douyin.com/a/",
        "https://v.douyin.com/../../admin/",
        "https://v.douyin.com/Ay1Q2QU/?x=1",
        "",
    ] {
        assert_eq!(
            links.resolve(text).await,
            Err(ResolveError::NotShortLink),
            "{text}"
        );
    }
    assert!(requests(&host).await.is_empty());
}
