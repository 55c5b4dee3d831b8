//! The simulated console in a child process (this binary again, with `--serve-simulator`), so the bench's counting
//! allocator and resident set are the connector's (and the in-memory table's, which the figures take out) alone:
//! the simulator's generated tenant and its per-request work live in the child.
//!
//! The two talk over the child's stdin and stdout, one line each way per command: `requests` (how many requests
//! the console logged), `clear` (forget them), `verdict <threat id> <verdict>` (an analyst's change), `rss` (the
//! child's peak and current resident set, KiB). The child prints `ready <base url> <token> <seconds to generate>`
//! first, and ends when its stdin closes (the bench ended, however it ended).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use s1_simulator::{Simulator, TenantSpec};

use crate::BoxError;

/// The flag that turns this binary into the simulator's process.
pub const SERVE_FLAG: &str = "--serve-simulator";

/// What the child generates: the bench's tenant.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub agents: usize,
    pub threats: usize,
    pub seed: u64,
    pub risks_per_agent: usize,
}

impl Spec {
    fn flags(&self) -> Vec<String> {
        vec![
            "--agents".into(),
            self.agents.to_string(),
            "--threats".into(),
            self.threats.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--risks-per-agent".into(),
            self.risks_per_agent.to_string(),
        ]
    }

    fn parse(flags: &[String]) -> Result<Self, BoxError> {
        let mut spec = Spec {
            agents: 0,
            threats: 0,
            seed: 0,
            risks_per_agent: 0,
        };
        for pair in flags.chunks(2) {
            let [flag, value] = pair else {
                return Err(format!("{SERVE_FLAG}: {pair:?} has no value").into());
            };
            match flag.as_str() {
                "--agents" => spec.agents = value.parse()?,
                "--threats" => spec.threats = value.parse()?,
                "--seed" => spec.seed = value.parse()?,
                "--risks-per-agent" => spec.risks_per_agent = value.parse()?,
                other => return Err(format!("{SERVE_FLAG}: unknown flag {other}").into()),
            }
        }
        Ok(spec)
    }
}

/// The parent's side: the running child and its two pipes.
pub struct SimProcess {
    child: Child,
    pipes: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    base_url: String,
    token: String,
    pub generated_secs: f64,
}

impl SimProcess {
    pub fn spawn(spec: Spec) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(SERVE_FLAG)
            .args(spec.flags())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the simulator's pipes are missing".into());
        };
        let mut stdout = BufReader::new(stdout);
        let mut ready = String::new();
        stdout.read_line(&mut ready)?;
        let words: Vec<&str> = ready.split_whitespace().collect();
        let ["ready", url, token, secs] = words[..] else {
            return Err(format!("the simulator did not start: {ready:?}").into());
        };
        Ok(Self {
            base_url: url.to_string(),
            token: token.to_string(),
            generated_secs: secs.parse()?,
            pipes: Mutex::new((stdin, stdout)),
            child,
        })
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn token(&self) -> String {
        self.token.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ask(&self, command: &str) -> Result<String, BoxError> {
        let mut pipes = self
            .pipes
            .lock()
            .map_err(|_| "the simulator's pipes are poisoned")?;
        let (stdin, stdout) = &mut *pipes;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        let mut answer = String::new();
        if stdout.read_line(&mut answer)? == 0 {
            return Err(format!("the simulator ended before answering {command:?}").into());
        }
        Ok(answer.trim().to_string())
    }

    /// Requests the console logged since the last `clear_requests`.
    pub fn requests(&self) -> Result<usize, BoxError> {
        Ok(self.ask("requests")?.parse()?)
    }

    pub fn clear_requests(&self) -> Result<(), BoxError> {
        self.ask("clear").map(|_| ())
    }

    pub fn set_threat_verdict(&self, id: &str, verdict: &str) -> Result<bool, BoxError> {
        Ok(self.ask(&format!("verdict {id} {verdict}"))? == "true")
    }

    /// The child's peak and current resident set, KiB.
    pub fn rss_kib(&self) -> Result<(u64, u64), BoxError> {
        let answer = self.ask("rss")?;
        let (peak, now) = answer
            .split_once(' ')
            .ok_or_else(|| format!("rss: {answer:?}"))?;
        Ok((peak.parse()?, now.parse()?))
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // A bench that ends without this drop closes the child's stdin, which ends it too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: generates the tenant, serves it, and answers commands until stdin closes.
pub async fn serve(flags: &[String]) -> Result<(), BoxError> {
    let spec = Spec::parse(flags)?;
    let started = std::time::Instant::now();
    let sim = Simulator::new(
        TenantSpec::small()
            .with_seed(spec.seed)
            .with_agents(spec.agents)
            .with_threats(spec.threats)
            .with_risks_per_agent(spec.risks_per_agent),
    )
    .start()
    .await?;
    println!(
        "ready {} {} {:.2}",
        sim.base_url(),
        sim.token(),
        started.elapsed().as_secs_f64()
    );
    std::io::stdout().flush()?;
    let answered = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut out = std::io::stdout();
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| e.to_string())?;
            let words: Vec<&str> = line.split_whitespace().collect();
            let answer = match words[..] {
                ["requests"] => sim.requests().len().to_string(),
                ["clear"] => {
                    sim.clear_requests();
                    "ok".to_string()
                }
                ["verdict", id, verdict] => sim.set_threat_verdict(id, verdict).to_string(),
                ["rss"] => {
                    let (peak, now) = crate::rss_kib();
                    format!("{peak} {now}")
                }
                _ => format!("unknown command {line:?}"),
            };
            writeln!(out, "{answer}").map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await?;
    answered.map_err(Into::into)
}
