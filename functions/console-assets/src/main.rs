use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // No environment and no clients: the files are in the binary, so there is nothing to read at cold start.
    run(service_fn(|request: Request| {
        console_assets::handle(request)
    }))
    .await
}
