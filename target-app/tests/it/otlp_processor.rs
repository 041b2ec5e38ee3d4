//! The encoding span processor against a real HTTP receiver on loopback:
//! batches go when full, when the delay passes, on a flush and at shutdown;
//! the queue's limit drops and counts; failures reach the flush's caller.

use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};
use prost::Message;
use target_app::otlp::{BatchConfig, EncodingProcessor};

use crate::otlp_http::{Receiver, exporter_at, receiver, span};

const HOUR: Duration = Duration::from_secs(3600);

fn processor(
    r: &Receiver,
    path: &str,
    batch: usize,
    queue: usize,
    delay: Duration,
) -> EncodingProcessor {
    let mut p = EncodingProcessor::new(
        exporter_at(
            format!("http://{}{path}", r.addr).parse().unwrap(),
            &[],
            false,
            Duration::from_secs(10),
        ),
        BatchConfig {
            scheduled_delay: delay,
            max_queue_size: queue,
            max_export_batch_size: batch,
            export_timeout: Duration::from_secs(10),
        },
    )
    .unwrap();
    p.set_resource(
        &Resource::builder_empty()
            .with_service_name("under-test")
            .build(),
    );
    p
}

fn named(name: &'static str, n: usize) -> Vec<SpanData> {
    (0..n).map(|_| span(name)).collect()
}

/// The span names of each request the receiver got, in order.
fn requests(r: &Receiver) -> Vec<Vec<String>> {
    r.seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            let req = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
            assert_eq!(req.resource_spans.len(), 1);
            let rs = &req.resource_spans[0];
            let service = &rs.resource.as_ref().unwrap().attributes[0];
            assert_eq!(
                service.value.as_ref().unwrap().value,
                Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        "under-test".into()
                    )
                )
            );
            rs.scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter().map(|s| s.name.clone()))
                .collect()
        })
        .collect()
}

fn wait_for_requests(r: &Receiver, n: usize) -> Vec<Vec<String>> {
    let start = Instant::now();
    loop {
        let got = requests(r);
        if got.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn full_batches_go_at_once_and_the_rest_at_shutdown() {
    let r = receiver(0, 200, "");
    let p = processor(&r, "/v1/traces", 3, 100, HOUR);
    for s in named("a", 7) {
        p.on_end(s);
    }
    // Two full batches without waiting for the hour's delay.
    let got = wait_for_requests(&r, 2);
    assert_eq!(
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 3],
        "{got:?}"
    );
    p.shutdown().unwrap();
    let got = requests(&r);
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    // After the shutdown nothing is queued or sent, and a second one says so.
    p.on_end(span("late"));
    assert!(matches!(p.shutdown(), Err(OTelSdkError::AlreadyShutdown)));
    assert!(matches!(
        p.force_flush(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(requests(&r).len(), 3);
}

#[test]
fn a_batch_that_does_not_fill_goes_when_the_delay_passes() {
    let r = receiver(0, 200, "");
    let p = processor(&r, "/v1/traces", 512, 2048, Duration::from_millis(100));
    let start = Instant::now();
    p.on_end(span("a"));
    p.on_end(span("b"));
    let got = wait_for_requests(&r, 1);
    assert_eq!(got, [["a", "b"]]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    p.shutdown().unwrap();
}

#[test]
fn a_flush_returns_after_the_export_and_with_its_failure() {
    let r = receiver(0, 200, "");
    let p = processor(&r, "/v1/traces", 512, 2048, HOUR);
    p.on_end(span("a"));
    p.force_flush().unwrap();
    assert_eq!(
        requests(&r),
        [["a"]],
        "the span must be there when the flush returns"
    );
    // A flush with nothing queued sends nothing.
    p.force_flush().unwrap();
    assert_eq!(requests(&r).len(), 1);
    p.shutdown().unwrap();

    let failing = receiver(usize::MAX, 400, "no thanks");
    let p = processor(&failing, "/v1/traces", 512, 2048, HOUR);
    p.on_end(span("a"));
    let err = p.force_flush().unwrap_err().to_string();
    assert!(err.contains("400") && err.contains("no thanks"), "{err}");
    // The failure is the flush's: the next one, with nothing to send, passes.
    p.force_flush().unwrap();
    p.on_end(span("b"));
    let err = p.shutdown().unwrap_err().to_string();
    assert!(
        err.contains("400"),
        "the shutdown's export failed too: {err}"
    );
}

#[test]
fn spans_beyond_the_queue_are_dropped_and_counted() {
    let r = receiver(0, 200, "");
    // Each post takes a second: while the first batch is on its way, one
    // more batch can wait and the rest find the queue full.
    let p = processor(&r, "/slow/v1/traces", 2, 2, HOUR);
    for s in named("a", 10) {
        p.on_end(s);
    }
    p.shutdown().unwrap();
    let delivered: usize = requests(&r).iter().map(Vec::len).sum();
    assert!(p.dropped() >= 1, "nothing dropped, {delivered} delivered");
    assert_eq!(delivered as u64 + p.dropped(), 10);
    assert!(delivered <= 4, "{delivered} delivered past a queue of 2");
}

#[test]
fn unsampled_spans_are_not_exported() {
    let r = receiver(0, 200, "");
    let p = processor(&r, "/v1/traces", 512, 2048, HOUR);
    let mut s = span("unsampled");
    s.span_context = SpanContext::new(
        s.span_context.trace_id(),
        s.span_context.span_id(),
        TraceFlags::default(),
        false,
        TraceState::default(),
    );
    p.on_end(s);
    p.on_end(span("sampled"));
    p.shutdown().unwrap();
    assert_eq!(requests(&r), [["sampled"]]);
}

#[test]
fn spans_from_many_threads_all_arrive_once() {
    let r = receiver(0, 200, "");
    let p = std::sync::Arc::new(processor(&r, "/v1/traces", 50, 100_000, HOUR));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for s in named("t", 1000) {
                    p.on_end(s);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    p.shutdown().unwrap();
    let got = requests(&r);
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 4000);
    assert!(got.iter().all(|b| b.len() <= 50), "a batch above its size");
    assert_eq!(p.dropped(), 0);
    // One post per full batch: 4000 spans in batches of 50.
    assert_eq!(got.len(), 80);
}
