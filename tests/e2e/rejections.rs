//! Bad input gets a clear error to its sender and a log line; nothing else is disturbed.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::support::{Event, Vizcast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rejected_frame_gets_its_error_and_the_connection_goes_on() {
    let vizcast = Vizcast::start(&[]).await;
    let mut viewer = vizcast.viewer().await;
    let mut bad = vizcast.producer().await;
    let mut good = vizcast.producer().await;

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_field = format!(
        r#"{{"stream":"x","deep":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mismatch = format!(
        r#"{{"stream":"s","t":[{}],"value":[{}]}}"#,
        vec!["0"; 1000].join(","),
        vec!["1"; 999].join(",")
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (
            r#"{"stream":"l","points":[[0,0,0],[1,1,1],[2,2,2],[3,3]]}"#.into(),
            "points[3]: expected 3 numbers, got 2",
            "invalid",
        ),
        (
            mismatch,
            "t and value have different lengths (1000 vs 999)",
            "invalid",
        ),
        (
            r#"{"t":1,"value":2}"#.into(),
            "missing \"stream\"",
            "invalid",
        ),
        (
            r#"{"stream":"x","vizcast":"hello","value":1}"#.into(),
            "\"vizcast\" is reserved",
            "invalid",
        ),
        (deep, "nesting deeper than 64", "limit"),
        (deep_field, "deep: nesting deeper than 64", "limit"),
        (
            r#"{"stream":"x","value":"#.into(),
            "EOF while parsing",
            "invalid",
        ),
        (
            r#"{"stream":"x","value":"seven"}"#.into(),
            "value: invalid type: string \"seven\"",
            "invalid",
        ),
        (
            r#"not json at all"#.into(),
            "expected a JSON object",
            "invalid",
        ),
        (
            r#"[{"stream":"a","value":1},{"stream":"b","points":[[1,2]]}]"#.into(),
            "[1].points[0]: expected 3 numbers, got 2",
            "invalid",
        ),
    ];
    for (number, (frame, expected, code)) in cases.iter().enumerate() {
        bad.send(frame).await;
        let error = bad.error().await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "frame {number}: {message:?} should contain {expected:?}"
        );
        assert_eq!(error["code"], *code, "{error}");
        // Each case is followed by one valid frame on the same connection.
        assert_eq!(error["frame"], 2 * number + 1, "{error}");
        // The other producer is untouched, and so is the rejected producer's next valid frame.
        let ok = format!(r#"{{"stream":"good","value":{number}}}"#);
        good.send(&ok).await;
        assert_eq!(viewer.data(1).await, [ok]);
        let also_ok = format!(r#"{{"stream":"bad-but-now-fine","value":{number}}}"#);
        bad.send(&also_ok).await;
        assert_eq!(viewer.data(1).await, [also_ok]);
    }

    // A binary frame is refused the same way.
    bad.socket
        .send(Message::binary(&b"{\"stream\":\"x\",\"value\":1}"[..]))
        .await
        .unwrap();
    let error = bad.error().await;
    assert_eq!(error["code"], "binary");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("send JSON as text frames")
    );

    // Each rejection was logged with the producer and the frame number.
    let log = vizcast
        .wait_for_log("points[3]: expected 3 numbers, got 2")
        .await;
    assert!(log.contains("frame=1"), "{log}");
    let stats = vizcast.stats().await;
    assert_eq!(stats["ingest"]["rejected"], cases.len() + 1);
    assert_eq!(stats["ingest"]["frames"], 2 * cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_its_connection_with_1009_and_nothing_else() {
    let vizcast = Vizcast::start(&["--max-frame-bytes", "1MiB"]).await;
    let mut viewer = vizcast.viewer().await;
    let big = vizcast.producer().await;
    let mut other = vizcast.producer().await;
    let frame = format!(
        r#"{{"stream":"big","text":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    // Send while reading, as any real client does: the close arrives before the payload is sent.
    let (sink, mut stream) = futures_util::StreamExt::split(big.socket);
    let sender = tokio::spawn(async move {
        let mut sink = sink;
        sink.send(Message::text(frame)).await.ok();
    });
    let close = loop {
        match futures_util::StreamExt::next(&mut stream).await {
            Some(Ok(Message::Close(frame))) => break frame.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1009);
    assert_eq!(
        close.reason.as_str(),
        "frame of 2.0 MiB exceeds --max-frame-bytes (1 MiB)"
    );
    sender.abort();

    other.send(r#"{"stream":"fine","value":1}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"fine","value":1}"#]);
    vizcast.wait_for_log("exceeds --max-frame-bytes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let vizcast = Vizcast::start(&[]).await;
    let mut viewer = vizcast.viewer().await;
    let mut producer = vizcast.producer().await;
    let raw = Frame::message(
        &b"{\"stream\":\"x\",\"text\":\"\xff\xfe\"}"[..],
        OpCode::Data(Data::Text),
        true,
    );
    producer.socket.send(Message::Frame(raw)).await.unwrap();
    match producer.next().await {
        Event::Close(code, reason) => {
            assert_eq!(code, 1007);
            assert!(reason.contains("not valid UTF-8"), "{reason}");
        }
        other => panic!("expected close 1007, got {other:?}"),
    }
    let mut next = vizcast.producer().await;
    next.send(r#"{"stream":"after","value":1}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"after","value":1}"#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_limit_refuses_new_streams_but_not_known_ones() {
    let vizcast = Vizcast::start(&["--max-streams", "3"]).await;
    let mut viewer = vizcast.viewer().await;
    let mut producer = vizcast.producer().await;
    producer
        .send(r#"{"stream":"a","values":{"x":1,"y":2}}"#)
        .await;
    producer.send(r#"{"stream":"b","value":1}"#).await;
    viewer.data(2).await;
    producer.send(r#"{"stream":"c","value":1}"#).await;
    let error = producer.error().await;
    assert_eq!(
        error["message"],
        "stream limit reached: 3 streams (--max-streams); \"c\" would be a new one"
    );
    producer.send(r#"{"stream":"b","value":2}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"b","value":2}"#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_breaks_the_websocket_protocol_is_closed_and_no_one_else_is() {
    let vizcast = Vizcast::start(&[]).await;
    let mut bystander = vizcast.viewer().await;

    // A ping is answered with a pong of the same payload.
    let mut pinger = vizcast.viewer().await;
    pinger
        .socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, pinger.socket.next()).await {
            Ok(Some(Ok(Message::Pong(payload)))) => {
                assert_eq!(&payload[..], b"are you there");
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no pong: {other:?}"),
        }
    }

    // Text that is not UTF-8 closes with 1007; a message over 1 MiB with 1009.
    let mut bad_text = vizcast.viewer().await;
    let raw = Frame::message(
        &b"{\"vizcast\":\"\xff\"}"[..],
        OpCode::Data(Data::Text),
        true,
    );
    bad_text.socket.send(Message::Frame(raw)).await.unwrap();
    assert!(matches!(bad_text.next().await, Event::Close(1007, _)));
    let huge = vizcast.viewer().await;
    // Send while reading, as any real client does: the close arrives before the payload is sent.
    let (mut sink, mut stream) = huge.socket.split();
    let sender = tokio::spawn(async move {
        sink.send(Message::text("x".repeat(2 << 20))).await.ok();
    });
    let close = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.unwrap(),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1009);
    sender.abort();
    vizcast.wait_for_log("broke the WebSocket protocol").await;

    let mut producer = vizcast.producer().await;
    producer.send(r#"{"stream":"after","value":1}"#).await;
    assert_eq!(bystander.data(1).await, [r#"{"stream":"after","value":1}"#]);
    assert_eq!(pinger.data(1).await, [r#"{"stream":"after","value":1}"#]);
}
