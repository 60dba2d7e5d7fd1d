//! `giponext-bare-hop LISTEN UPSTREAM`: the least a Rust proxy hop costs.
//!
//! A reverse proxy with nothing but the hop, on the same stack as the
//! backend (tokio's multi-threaded runtime, hyper's HTTP/1.1 server and
//! hyper-util's pooled client): no session, no checks, no logs; the request
//! path and `Authorization` header pass through and the answer streams back,
//! as nginx does in `bench/nginx/nginx.conf`. The proxy-hop benchmark runs
//! it as a fourth target, so the backend's hop can be read against both
//! nginx and this floor: what the backend spends above the floor is the
//! backend's own work, what the floor spends above nginx is the runtime's.

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, http_body_util::Empty<bytes::Bytes>>;
type Body = http_body_util::Either<Incoming, http_body_util::Empty<bytes::Bytes>>;

async fn hop(
    client: Upstream,
    upstream: &'static str,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = Uri::try_from(format!("http://{upstream}{path}")) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let mut forwarded = Request::get(uri).header(ACCEPT, HeaderValue::from_static("*/*"));
    if let Some(auth) = request.headers().get(AUTHORIZATION) {
        forwarded = forwarded.header(AUTHORIZATION, auth);
    }
    let Ok(forwarded) = forwarded.body(http_body_util::Empty::new()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    Ok(match client.request(forwarded).await {
        Ok(answer) => answer.map(http_body_util::Either::Left),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    })
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(http_body_util::Either::Right(http_body_util::Empty::new()));
    *response.status_mut() = code;
    response
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: giponext-bare-hop LISTEN_ADDR UPSTREAM_ADDR";
    let listen: SocketAddr = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let upstream: &'static str = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.leak();
    let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let client = client.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| hop(client.clone(), upstream, request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
