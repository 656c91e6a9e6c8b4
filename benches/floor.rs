//! The kernel's floor for fan-out on loopback: what one `write` per message per socket costs, with
//! nothing else: no WebSocket framing, no parsing, no queues. A writer thread sends an 80-byte
//! message to every socket at a fixed rate (default 1 kHz); one reader thread per socket drains
//! it. The figure is the writer's CPU time per delivery, which on loopback includes the
//! receiver's TCP processing and wake-up (the kernel charges them to the sender). vizcast's
//! `e2e_load` figures at the same rate are meant to be read beside these.
//!
//! With `--relay`, the floor of a relay instead: the messages come from a producer's socket (a
//! thread of its own sends them at the rate), and the relaying thread blocks on reading it and
//! writes what it read to every socket. That adds what a hub cannot avoid either, one wake-up and
//! one `read` per message, and is the floor to hold `e2e_load`'s server CPU against.
//!
//! `cargo bench --bench floor [-- --sockets 1,10,100 --rate 1000 --seconds 5 --relay]`. Loopback
//! only, bounded in time.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// CPU seconds (user + system) the calling thread has used, from /proc.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

struct Outcome {
    deliveries: u64,
    seconds: f64,
    cpu: f64,
}

fn run(sockets: usize, rate: u64, seconds: f64, relay: bool) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut writers = Vec::with_capacity(sockets);
    let mut readers = Vec::with_capacity(sockets);
    for i in 0..sockets {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nodelay(true).unwrap();
        writers.push(server);
        readers.push(
            std::thread::Builder::new()
                .name(format!("floor-reader-{i}"))
                .spawn(move || {
                    let mut client = client;
                    let mut buf = [0u8; 64 * 1024];
                    let mut total = 0u64;
                    while let Ok(n) = client.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                    }
                    total
                })
                .unwrap(),
        );
    }
    let message = [b'x'; 80];
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    // Sends `message` at the rate, until `seconds` have passed; returns how many it sent.
    let pace = move |send: &mut dyn FnMut(&[u8])| {
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed().as_secs_f64() < seconds {
            send(&message);
            sent += 1;
            let next = interval * u32::try_from(sent).unwrap_or(u32::MAX);
            if let Some(wait) = next.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        sent
    };
    let cpu_before = thread_cpu_seconds();
    let start = Instant::now();
    let sent = if relay {
        let mut input = TcpStream::connect(addr).unwrap();
        let (mut producer, _) = listener.accept().unwrap();
        producer.set_nodelay(true).unwrap();
        let producer = std::thread::Builder::new()
            .name("floor-producer".to_owned())
            .spawn(move || pace(&mut |m: &[u8]| producer.write_all(m).unwrap()))
            .unwrap();
        let mut buf = [0u8; 64 * 1024];
        let mut relayed = 0u64;
        loop {
            let n = input.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for socket in &mut writers {
                socket.write_all(&buf[..n]).unwrap();
            }
            relayed += n as u64;
        }
        let sent = producer.join().unwrap();
        assert_eq!(
            relayed,
            sent * message.len() as u64,
            "every message was relayed"
        );
        sent
    } else {
        pace(&mut |m: &[u8]| {
            for socket in &mut writers {
                socket.write_all(m).unwrap();
            }
        })
    };
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_before;
    drop(writers);
    let received: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(
        received,
        sent * sockets as u64 * 80,
        "every message arrived"
    );
    Outcome {
        deliveries: sent * sockets as u64,
        seconds: elapsed,
        cpu,
    }
}

fn main() {
    let mut sockets = vec![1, 10, 100];
    let mut rate = 1000;
    let mut seconds = 5.0;
    let mut relay = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sockets" => {
                sockets = args
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|v| v.parse().unwrap())
                    .collect();
            }
            "--rate" => rate = args.next().unwrap().parse().unwrap(),
            "--seconds" => seconds = args.next().unwrap().parse().unwrap(),
            "--relay" => relay = true,
            _ => {} // cargo passes --bench
        }
    }
    let what = if relay {
        "one read from a producer's socket and one 80-byte write per message per loopback socket"
    } else {
        "one 80-byte write per message per loopback socket"
    };
    println!("\nthe kernel's floor: {what}, {rate} messages/s, {seconds} s");
    println!("| sockets | deliveries/s | writer CPU | CPU µs/delivery |");
    println!("|---:|---:|---:|---:|");
    for n in sockets {
        let out = run(n, rate, seconds, relay);
        println!(
            "| {n} | {:.0} | {:.0} % | {:.2} |",
            out.deliveries as f64 / out.seconds,
            100.0 * out.cpu / out.seconds,
            out.cpu * 1e6 / out.deliveries.max(1) as f64
        );
    }
}
