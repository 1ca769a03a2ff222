//! The live web console in a real headless Chromium, driven through WebDriver
//! (Debian's `chromium` and `chromium-driver`), against a real server and
//! consoles on loopback: the issuance desk's book changes as banks subscribe; an
//! entry's inclusion proof verifies in the browser against the pinned ledger key;
//! a console that alters proofs (the library's test hook) is caught by the page;
//! a bank's page shows no other bank's data. Screenshots are saved under
//! `target/console-screenshots/`. Every wait is on the page's content.

use crate::common::programme::{Life, plain_terms};
use crate::common::{Server, new_key};
use dbond::client::{Client, SeriesAction};
use dbond::console::{Console, ConsoleOptions};
use dbond::money::Units;
use dbond::proto as pb;
use dbond::registry::AllotmentRule;
use dbond::registry::allotment::allot;
use fantoccini::Locator;
use rust_decimal::Decimal;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what the test waits for before the test
/// fails (a guard against a hang, not a pause: waits end as soon as the page shows it).
const PAGE_WAIT_MAX: Duration = Duration::from_secs(60);

/// Makes sure Chromium and its WebDriver are installed (see `common::debian`).
fn chromium_ready() -> Result<(), String> {
    crate::common::debian::require(
        "the console test drives a real browser",
        &["chromium", "chromium-driver"],
        || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
    )
}

/// A headless Chromium behind its own chromedriver, with a fresh profile.
struct Browser {
    driver: Child,
    client: Option<fantoccini::Client>,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        chromium_ready().unwrap_or_else(|e| panic!("{e}"));
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut lines = BufReader::new(driver.stdout.take().expect("stdout")).lines();
        let port = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.split("started successfully on port ").nth(1) {
                        break rest.trim_end_matches('.').trim().to_string();
                    }
                }
                _ => panic!("chromedriver exited before saying which port it listens on"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1400,1800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), serde_json::Value::Bool(true));
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("start a Chromium session through chromedriver");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let shots = target.join("console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Browser {
            driver,
            client: Some(client),
            _profile: profile,
            shots,
        }
    }

    fn c(&self) -> &fantoccini::Client {
        self.client.as_ref().expect("browser session")
    }

    async fn goto(&self, url: &str) {
        self.c()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn text(&self, css: &str) -> Option<String> {
        let el = self.c().find(Locator::Css(css)).await.ok()?;
        el.text().await.ok()
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.c().find(Locator::Css(css)).await.ok()?;
        el.attr(name).await.ok().flatten()
    }

    /// Waits until the element's text satisfies `ok`; returns the text.
    async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if ok(&text) {
                return text;
            }
            if start.elapsed() > PAGE_WAIT_MAX {
                let problem = self.text("#problem").await.unwrap_or_default();
                self.shot("failed").await;
                panic!("{css} never came to {what}; it shows {text:?} (page problem: {problem:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_eq(&self, css: &str, expected: &str) {
        self.wait_text(css, &format!("show {expected:?}"), |t| t == expected)
            .await;
    }

    /// Waits until the element's attribute is one of `values`; returns it.
    async fn wait_attr(&self, css: &str, name: &str, values: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let v = self.attr(css, name).await.unwrap_or_default();
            if values.contains(&v.as_str()) {
                return v;
            }
            if start.elapsed() > PAGE_WAIT_MAX {
                let text = self.text(css).await.unwrap_or_default();
                self.shot("failed").await;
                panic!("{css} never had {name} in {values:?}; it has {v:?} and shows {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element, once the page has drawn it.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let start = Instant::now();
        loop {
            match self.c().find(Locator::Css(css)).await {
                Ok(el) => return el,
                Err(e) if start.elapsed() > PAGE_WAIT_MAX => {
                    self.shot("failed").await;
                    panic!("{css} never appeared: {e}");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    async fn shot(&self, name: &str) {
        if let Ok(png) = self.c().screenshot().await {
            let _ = std::fs::write(self.shots.join(format!("{name}.png")), png);
        }
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A treasury console run as its own process (`dbond console`), as an operator
/// would run it.
struct ConsoleProcess {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl ConsoleProcess {
    fn start(server: &str, key: &ed25519_dalek::SigningKey) -> ConsoleProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("treasury.key");
        dbond::ledger::keys::write_private_key(&key_file, key).expect("write key");
        let mut child = Command::new(env!("CARGO_BIN_EXE_dbond"))
            .args([
                "console",
                "--server",
                server,
                "--listen",
                "127.0.0.1:0",
                "--key",
            ])
            .arg(&key_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dbond console");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(u) = line.strip_prefix("console listening on ") {
                        break u.trim().to_string();
                    }
                }
                _ => {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!("dbond console exited before listening: {err}");
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        }
        ConsoleProcess {
            child,
            url,
            _dir: dir,
        }
    }
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn console(client: &Client, configure: impl FnOnce(&mut ConsoleOptions)) -> Console {
    let mut options = ConsoleOptions::new("127.0.0.1:0".parse().unwrap());
    configure(&mut options);
    Console::start(client.clone(), options)
        .await
        .expect("start a console")
}

async fn subscribe(
    bank: &Client,
    series: &str,
    investor: &str,
    country: &str,
    c: pb::DiasporaCategory,
    units: u64,
) -> u64 {
    bank.submit(pb::SubmitSubscription {
        series_id: series.into(),
        investor_ref: investor.into(),
        category: c as i32,
        country: country.into(),
        units: units.to_string(),
        idempotency_key: format!("{series}-{investor}"),
        registration: None,
    })
    .await
    .unwrap_or_else(|s| panic!("subscribe {investor}: {}", s.message()))
    .receipt
    .expect("receipt")
    .index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_in_a_real_browser() {
    let browser = Browser::start().await;
    let server = Server::start();
    let admin = server.admin().await;
    let (treasury_key, auditor_key, a_key, b_key) = (new_key(), new_key(), new_key(), new_key());
    for (id, role, key) in [
        ("treasury", pb::Role::Treasury, &treasury_key),
        ("auditor", pb::Role::Auditor, &auditor_key),
        ("bank-a", pb::Role::Bank, &a_key),
        ("bank-b", pb::Role::Bank, &b_key),
    ] {
        admin
            .register(id, role, &key.verifying_key(), id)
            .await
            .unwrap_or_else(|s| panic!("register {id}: {}", s.message()));
    }
    let treasury = admin.as_key(treasury_key.clone());
    let auditor = admin.as_key(auditor_key);
    let bank_a = admin.as_key(a_key);
    let bank_b = admin.as_key(b_key);
    let ledger_key = hex::encode(
        dbond::client::ledger_info(admin.channel())
            .await
            .expect("ledger info")
            .ledger_public_key,
    );

    // A diaspora-priced series of 100 units, pro rata, selling now.
    let id = "CONSOLE-1";
    let mut terms = plain_terms(id, Life::selling_now(chrono::Duration::hours(2), 24));
    terms.cap_units = "100".into();
    terms.eligibility = Some(pb::Eligibility {
        categories: vec![
            pb::DiasporaCategory::CitizenAbroad as i32,
            pb::DiasporaCategory::FormerCitizen as i32,
            pb::DiasporaCategory::Affinity as i32,
        ],
        countries_allowed: vec![],
        countries_barred: vec![],
    });
    terms.coupon = Some(pb::Coupon {
        kind: Some(pb::coupon::Kind::Fixed(pb::FixedCoupon {
            rate: String::new(),
        })),
    });
    terms.pricing = Some(pb::Pricing {
        kind: Some(pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
            reference_yield: "0.065".into(),
            discount_bps: "150".into(),
            derive_par_coupon: true,
            coupon_step: String::new(),
        })),
    });
    treasury.create_series(terms).await.expect("create series");
    treasury
        .series_action(SeriesAction::Open, id)
        .await
        .expect("open series");

    let desk = ConsoleProcess::start(&server.addr, &treasury_key);
    let auditor_console = console(&auditor, |_| {}).await;
    let dishonest = console(&auditor, |o| o.hooks.alter_proofs = true).await;
    let pinned = dbond::ledger::keys::parse_public_key(&hex::decode(&ledger_key).unwrap()).unwrap();
    // The bank's console serves over TLS (a self-signed certificate the browser
    // is told to accept), with the ledger key pinned at start.
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let bank_console = console(&bank_a, |o| {
        o.pinned_ledger_key = Some(pinned);
        o.tls = Some(dbond::console::ServerTls {
            cert_pem: cert.cert.pem().into_bytes(),
            key_pem: cert.signing_key.serialize_pem().into_bytes(),
        });
    })
    .await;
    assert!(
        bank_console.url().starts_with("https://127.0.0.1:"),
        "{}",
        bank_console.url()
    );

    // A console pinned to another ledger key refuses the server at start.
    let mut wrong = ConsoleOptions::new("127.0.0.1:0".parse().unwrap());
    wrong.pinned_ledger_key = Some(new_key().verifying_key());
    let refused = Console::start(auditor.clone(), wrong)
        .await
        .err()
        .expect("a console pinned to another key refuses the server");
    assert!(
        refused.to_string().contains("not the pinned key"),
        "{refused}"
    );

    // The issuance desk: the series is open and its book empty.
    browser.goto(&format!("{}#treasury", desk.url)).await;
    browser
        .wait_eq(&format!("#series-{id} [data-field=status]"), "open")
        .await;
    browser
        .wait_eq(&format!("#series-{id} [data-field=subscribed_units]"), "0")
        .await;
    assert_eq!(
        browser
            .text(&format!("#series-{id} [data-field=discount_bps]"))
            .await
            .as_deref(),
        Some("150")
    );

    // Banks subscribe; the page follows without being reloaded.
    use pb::DiasporaCategory::*;
    let first = subscribe(&bank_a, id, "inv-a1", "DE", CitizenAbroad, 60).await;
    subscribe(&bank_a, id, "inv-a2", "FR", Affinity, 30).await;
    subscribe(&bank_b, id, "inv-b1", "DE", FormerCitizen, 50).await;
    subscribe(&bank_b, id, "inv-b2", "GB", CitizenAbroad, 20).await;
    let book = format!("#book-{id}");
    browser
        .wait_eq(&format!("{book} [data-field=subscribed_units]"), "160")
        .await;
    browser
        .wait_eq(&format!("{book} [data-field=subscriptions]"), "4")
        .await;
    browser
        .wait_eq(
            &format!("#series-{id} [data-field=subscribed_units]"),
            "160",
        )
        .await;
    browser
        .wait_eq(&format!("{book} [data-field=oversubscription]"), "1.60")
        .await;
    for (bank, units) in [("bank-a", "90"), ("bank-b", "70")] {
        browser
            .wait_eq(
                &format!("{book} .by-bank tr[data-key={bank}] [data-field=units]"),
                units,
            )
            .await;
    }
    for (country, units) in [("DE", "110"), ("FR", "30"), ("GB", "20")] {
        browser
            .wait_eq(
                &format!("{book} .by-country tr[data-key={country}] [data-field=units]"),
                units,
            )
            .await;
    }
    for (category, units) in [
        ("citizen_abroad", "80"),
        ("former_citizen", "50"),
        ("affinity", "30"),
    ] {
        browser
            .wait_eq(
                &format!("{book} .by-category tr[data-key={category}] [data-field=units]"),
                units,
            )
            .await;
    }
    // The would-be allotment is the registry's own pro rata over the book in
    // ledger order.
    let allotted: Vec<u64> = allot(
        &[60, 30, 50, 20].map(Units::new),
        Units::new(100),
        AllotmentRule::ProRata,
    )
    .into_iter()
    .map(Units::get)
    .collect();
    let a_units = allotted[0] + allotted[1];
    let b_units = allotted[2] + allotted[3];
    assert_eq!(a_units + b_units, 100);
    browser
        .wait_eq(
            &format!("{book} .would-be tr[data-key=bank-a] [data-field=allotted_units]"),
            &a_units.to_string(),
        )
        .await;
    browser
        .wait_eq(
            &format!("{book} .would-be tr[data-key=bank-b] [data-field=allotted_units]"),
            &b_units.to_string(),
        )
        .await;
    let rate = browser
        .text(&format!("{book} [data-field=per_minute]"))
        .await
        .unwrap_or_default();
    assert!(
        rate.parse::<u64>().is_ok_and(|n| n <= 4),
        "per minute {rate:?}"
    );
    assert!(
        browser
            .c()
            .find_all(Locator::Css(&format!("{book} .uplot")))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
            >= 2,
        "the book's charts are drawn"
    );
    browser.shot("treasury").await;

    // The auditor pins the ledger key and checks a subscription's proof in the
    // browser.
    browser
        .goto(&format!("{}#auditor", auditor_console.url()))
        .await;
    browser.type_into("#ledger-key", &ledger_key).await;
    browser.click("#save-key").await;
    browser
        .wait_text("#key-note", "name the pinned key", |t| {
            t.contains("server reports the same key")
        })
        .await;
    browser
        .wait_text(
            &format!("#entry-{first} [data-field=kind]"),
            "list the subscription",
            |t| t == "subscription_submitted",
        )
        .await;
    browser
        .wait_attr(
            "#checkpoints tbody tr:first-child [data-field=signature]",
            "data-verdict",
            &["verified"],
        )
        .await;
    browser
        .goto(&format!("{}#auditor/{first}", auditor_console.url()))
        .await;
    browser.click("#check-proof").await;
    let verdict = browser
        .wait_attr("#proof-result", "data-verdict", &["verified", "failed"])
        .await;
    let text = browser.text("#proof-result").await.unwrap_or_default();
    assert_eq!(verdict, "verified", "{text}");
    assert!(
        text.contains(&format!("entry {first} signed by the pinned key")),
        "{text}"
    );
    browser.shot("auditor").await;

    // The page's verifier against docs/LEDGER_FORMAT.md's receipt vector and
    // its tampered twins, in this browser's WebCrypto.
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/LEDGER_FORMAT.md"
    ))
    .expect("read LEDGER_FORMAT.md");
    let vector = |name: &str| {
        doc.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("vector {name}"))
            .to_string()
    };
    let receipt: serde_json::Value =
        serde_json::from_str(&vector("receipt_1_of_3")).expect("receipt vector");
    let results = browser
        .c()
        .execute_async(
            r#"
            const [receipt, key, done] = arguments;
            import("/assets/verify.js").then(async (m) => {
              const twin = (change) => { const r = structuredClone(receipt); change(r); return r; };
              const flip = (hex) => (parseInt(hex.slice(0, 2), 16) ^ 1).toString(16).padStart(2, "0") + hex.slice(2);
              const cases = [
                receipt,
                twin((r) => { r.inclusion_proof[0] = flip(r.inclusion_proof[0]); }),
                twin((r) => { r.inclusion_proof.reverse(); }),
                twin((r) => { r.inclusion_proof = []; }),
                twin((r) => { r.index = 2; }),
                twin((r) => { r.tree_size = 4; }),
              ];
              const out = [];
              for (const c of cases) out.push((await m.verifyReceipt(c, key)).ok);
              out.push((await m.verifyReceipt(receipt, "11".repeat(32))).ok);
              done(out);
            }, (e) => done(String(e)));
            "#,
            vec![receipt, serde_json::Value::String(vector("ledger_public_key"))],
        )
        .await
        .expect("run the page's verifier");
    assert_eq!(
        results,
        serde_json::json!([true, false, false, false, false, false, false]),
        "the vector verifies and each tampered twin is refused"
    );

    // A console that alters proofs is caught by the page.
    browser.goto(&format!("{}#auditor", dishonest.url())).await;
    browser.type_into("#ledger-key", &ledger_key).await;
    browser.click("#save-key").await;
    browser
        .goto(&format!("{}#auditor/{first}", dishonest.url()))
        .await;
    browser.click("#check-proof").await;
    let verdict = browser
        .wait_attr("#proof-result", "data-verdict", &["verified", "failed"])
        .await;
    let text = browser.text("#proof-result").await.unwrap_or_default();
    assert_eq!(verdict, "failed", "{text}");
    assert!(text.starts_with("does not verify"), "{text}");
    browser.shot("auditor-altered-proof").await;

    // The bank's page: its own subscriptions only, and their proofs verify.
    browser.goto(&format!("{}#bank", bank_console.url())).await;
    browser
        .wait_eq("#bank-summary [data-field=subscriptions]", "2")
        .await;
    let source = browser.c().source().await.expect("page source");
    for own in ["inv-a1", "inv-a2"] {
        assert!(source.contains(own), "the bank's page shows {own}");
    }
    for other in ["inv-b1", "inv-b2", "bank-b"] {
        assert!(!source.contains(other), "the bank's page shows {other}");
    }
    browser
        .click(&format!("#subscription-{first} button"))
        .await;
    let verdict = browser
        .wait_attr(
            &format!("#subscription-{first} .verdict"),
            "data-verdict",
            &["verified", "failed"],
        )
        .await;
    assert_eq!(verdict, "verified");
    browser.shot("bank").await;
    // The programme's book by bank is not the bank's to read.
    browser
        .goto(&format!("{}api/treasury", bank_console.url()))
        .await;
    browser
        .wait_text("body", "refuse", |t| {
            t.contains("a bank sees its own subscriptions on the bank page")
        })
        .await;

    // Closed and allotted: the bank's page shows what it must pay.
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        treasury
            .series_action(action, id)
            .await
            .unwrap_or_else(|s| panic!("{}", s.message()));
    }
    let own = bank_a
        .all_subscriptions("")
        .await
        .expect("bank-a's subscriptions");
    let due: Decimal = own
        .iter()
        .map(|s| Decimal::from_str(&s.amount_due).expect("amount due"))
        .sum();
    assert!(due > Decimal::ZERO);
    browser.goto(&format!("{}#bank", bank_console.url())).await;
    browser
        .wait_text(
            "#bank-summary [data-field=to_pay]",
            &format!("show {due} to pay"),
            |t| Decimal::from_str(t).is_ok_and(|d| d == due),
        )
        .await;
    browser.shot("bank-allotted").await;

    // Settled and issued: the desk shows the debt service and what is owed.
    for (bank, subs) in [
        (&bank_a, own),
        (
            &bank_b,
            bank_b
                .all_subscriptions("")
                .await
                .expect("bank-b's subscriptions"),
        ),
    ] {
        for s in subs {
            bank.settle(s.subscription_id)
                .await
                .unwrap_or_else(|e| panic!("settle {}: {}", s.subscription_id, e.message()));
        }
    }
    treasury
        .series_action(SeriesAction::Issue, id)
        .await
        .unwrap_or_else(|s| panic!("issue: {}", s.message()));
    let ds = treasury.debt_service(id).await.expect("debt service");
    let owed: Decimal = ds
        .lines
        .iter()
        .filter(|l| l.status != "paid" && !l.amount.is_empty())
        .map(|l| Decimal::from_str(&l.amount).expect("amount"))
        .sum();
    assert!(owed > Decimal::ZERO);
    browser.goto(&format!("{}#treasury", desk.url)).await;
    browser
        .wait_eq(&format!("#series-{id} [data-field=status]"), "issued")
        .await;
    browser
        .wait_text(
            &format!("#debt-{id} [data-field=owed]"),
            &format!("show {owed} owed"),
            |t| Decimal::from_str(t).is_ok_and(|d| d == owed),
        )
        .await;
    browser.shot("treasury-issued").await;

    browser.close().await;
    drop((auditor_console, dishonest, bank_console, desk));
}

#[test]
fn a_console_beyond_loopback_without_tls_is_refused() {
    let (ok, _out, err) = Server::dbond(&[
        "console",
        "--server",
        "http://127.0.0.1:1",
        "--key",
        "/nonexistent.key",
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!ok);
    assert!(err.contains("is not a loopback address"), "{err}");
    assert!(err.contains("--tls-cert and --tls-key"), "{err}");
}
