use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

/// A connected pair of loopback sockets: (the end that writes, the end that reads).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

#[test]
fn moves_a_large_body_unchanged_and_in_order() {
    // client -> (source) proxy (destination) -> broker
    let (mut client, source) = pair();
    let (destination, mut broker) = pair();
    let body: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let sent = body.clone();
    let writer = thread::spawn(move || client.write_all(&sent).unwrap());
    let reader = thread::spawn(move || {
        let mut got = vec![0u8; 3 * 1024 * 1024 + 17];
        broker.read_exact(&mut got).unwrap();
        got
    });
    let mut left = body.len();
    while left > 0 {
        let n = transfer(&source, &destination, left).unwrap().unwrap();
        assert!(n > 0 && n <= left);
        left -= n;
    }
    assert!(holds_pipe());
    release();
    assert!(!holds_pipe());
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), body);
}

#[test]
fn a_source_at_its_end_moves_nothing() {
    let (client, source) = pair();
    let (destination, _broker) = pair();
    drop(client);
    assert_eq!(transfer(&source, &destination, 4096).unwrap().unwrap(), 0);
}

#[test]
fn a_read_timeout_is_a_read_error_and_drops_the_pipe() {
    let (_client, source) = pair();
    let (destination, _broker) = pair();
    source
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    match transfer(&source, &destination, 4096).unwrap() {
        Err(SpliceError::Read(e)) => assert!(
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(!holds_pipe());
}

#[test]
fn a_closed_destination_is_a_write_error() {
    let (mut client, source) = pair();
    let (destination, broker) = pair();
    drop(broker);
    destination.shutdown(std::net::Shutdown::Write).unwrap();
    client.write_all(&[1u8; 1024]).unwrap();
    match transfer(&source, &destination, 1024).unwrap() {
        Err(SpliceError::Write(_)) => {}
        other => panic!("{other:?}"),
    }
    assert!(!holds_pipe());
}
