//! The tuner's and the media server's HTTP side on loopback: what `/discover.json`,
//! `/lineup.json`, the UPnP descriptions and the SOAP actions answer, that probing a lineup URL
//! with HEAD starts nothing, and that bad SOAP gets the right status. (Discovery itself, with
//! the real clients between namespaces, is `tests/lan.rs`.)

mod common;

use std::net::SocketAddr;

use acebox::lan::hdhomerun::valid_device_id;
use common::{TempDir, acebox, content, get, request, send, sim};

/// acebox on loopback (so it announces nothing) with a list of two channels.
fn start(dir: &TempDir) -> (common::Process, common::Process) {
    let list = dir.path().join("channels.m3u");
    std::fs::write(
        &list,
        format!(
            "#EXTM3U\n#EXTINF:-1 tvg-chno=\"7\" group-title=\"News\",News & Co\nacestream://{}\n\
             #EXTINF:-1,Films\nhttp://127.0.0.1:6878/ace/getstream?infohash={}\n",
            content(1),
            content(2)
        ),
    )
    .unwrap();
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--channels", list.to_str().unwrap()]);
    (engine, proxy)
}

fn soap(addr: SocketAddr, path: &str, action: &str, body: &str) -> common::Reply {
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nSOAPACTION: \"{action}\"\r\n\
             Content-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn the_tuner_documents_name_the_channels_and_a_probe_starts_nothing() {
    let dir = TempDir::new("acebox-tuner-docs");
    let (engine, proxy) = start(&dir);
    let base = format!("http://{}", proxy.addr);
    let discover = get(proxy.addr, "/discover.json").json();
    let id = discover["DeviceID"].as_str().unwrap();
    assert!(
        valid_device_id(u32::from_str_radix(id, 16).unwrap()),
        "{discover}"
    );
    let status = proxy.json("/status");
    assert_eq!(discover["TunerCount"], status["board"]["max_channels"]);
    assert_eq!(discover["BaseURL"], base.as_str());
    assert_eq!(discover["LineupURL"], format!("{base}/lineup.json"));
    assert_eq!(
        status["lan"]["announce"], false,
        "loopback: nothing announced"
    );
    assert_eq!(status["lan"]["device_id"], id);

    let lineup = get(proxy.addr, "/lineup.json").json();
    assert_eq!(
        lineup,
        serde_json::json!([
            {"GuideNumber": "7", "GuideName": "News & Co",
             "URL": format!("{base}/ace/getstream?id={}", content(1))},
            {"GuideNumber": "2", "GuideName": "Films",
             "URL": format!("{base}/ace/getstream?infohash={}", content(2))},
        ])
    );
    let scan = get(proxy.addr, "/lineup_status.json").json();
    assert_eq!(scan["ScanInProgress"], 0);
    assert_eq!(
        send(proxy.addr, "POST", "/lineup.post?scan=start").status,
        200
    );

    // Media servers and TVs probe before they play: HEAD answers and starts no session.
    for entry in lineup.as_array().unwrap() {
        let url = entry["URL"].as_str().unwrap();
        let probe = send(proxy.addr, "HEAD", url.strip_prefix(&base).unwrap());
        assert_eq!(probe.status, 200);
        assert_eq!(probe.header("content-type"), Some("video/mp2t"));
        assert_eq!(probe.header("transfermode.dlna.org"), Some("Streaming"));
        assert!(
            probe
                .header("contentfeatures.dlna.org")
                .unwrap()
                .contains("DLNA.ORG_OP=00")
        );
    }
    for path in [
        "/discover.json",
        "/lineup.json",
        "/lineup_status.json",
        "/device.xml",
        "/ContentDirectory.xml",
        "/ConnectionManager.xml",
    ] {
        assert_eq!(send(proxy.addr, "HEAD", path).status, 200, "{path}");
    }
    assert_eq!(
        engine.stat("starts"),
        0,
        "a probe never costs an engine session"
    );
}

#[test]
fn the_media_server_browses_and_refuses_bad_soap() {
    let dir = TempDir::new("acebox-tuner-soap");
    let (_engine, proxy) = start(&dir);
    let device = get(proxy.addr, "/device.xml");
    assert_eq!(device.status, 200);
    assert!(
        device
            .text()
            .contains("<controlURL>/ContentDirectory/control</controlURL>")
    );
    let cd = "urn:schemas-upnp-org:service:ContentDirectory:1";
    let browse = |object: &str| {
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
             <s:Body><u:Browse xmlns:u=\"{cd}\"><ObjectID>{object}</ObjectID>\
             <BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter><StartingIndex>0\
             </StartingIndex><RequestedCount>0</RequestedCount><SortCriteria></SortCriteria>\
             </u:Browse></s:Body></s:Envelope>"
        )
    };
    let root = soap(
        proxy.addr,
        "/ContentDirectory/control",
        &format!("{cd}#Browse"),
        &browse("0"),
    );
    assert_eq!(root.status, 200, "{}", root.text());
    let text = root.text();
    assert!(
        text.contains("&lt;dc:title&gt;News&lt;/dc:title&gt;"),
        "{text}"
    );
    assert!(
        text.contains("&lt;dc:title&gt;Films&lt;/dc:title&gt;"),
        "{text}"
    );
    assert!(
        text.contains("<NumberReturned>2</NumberReturned>"),
        "{text}"
    );

    let missing = soap(
        proxy.addr,
        "/ContentDirectory/control",
        &format!("{cd}#Browse"),
        &browse("c9"),
    );
    assert_eq!(missing.status, 500);
    assert!(missing.text().contains("<errorCode>701</errorCode>"));
    let unknown = soap(
        proxy.addr,
        "/ContentDirectory/control",
        &format!("{cd}#Search"),
        "",
    );
    assert!(unknown.status == 500 && unknown.text().contains("<errorCode>401</errorCode>"));
    let huge = "x".repeat(20_000);
    assert_eq!(
        soap(
            proxy.addr,
            "/ContentDirectory/control",
            &format!("{cd}#Browse"),
            &huge
        )
        .status,
        413
    );
    let get_control = send(proxy.addr, "GET", "/ContentDirectory/control");
    assert_eq!(get_control.status, 405);
    assert_eq!(get_control.header("allow"), Some("POST"));
    assert_eq!(send(proxy.addr, "POST", "/discover.json").status, 405);
    let info = soap(
        proxy.addr,
        "/ConnectionManager/control",
        "urn:schemas-upnp-org:service:ConnectionManager:1#GetProtocolInfo",
        "",
    );
    assert!(
        info.text().contains("<Source>http-get:*:video/mpeg:"),
        "{}",
        info.text()
    );
}
