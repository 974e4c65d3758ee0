//! Builds the console (`console/`, TypeScript + React) with npm and Vite into this crate's
//! output directory, and writes `console.rs` there: every file of the build embedded with
//! its brotli and gzip variants, so the one binary serves the console.
//!
//! - `PURSER_CONSOLE_DIST=DIR` embeds a console built elsewhere instead of building it.
//! - Without npm the build still succeeds; the binary then serves a page that says how to
//!   get the console, unless `PURSER_CONSOLE_REQUIRED=1`, which makes that an error (CI).
//! - `npm ci` runs only when `package-lock.json` changed since the last install.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

/// What the console's build reads; a change to any of them builds it again.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    "scripts/compress.mjs",
];

fn main() {
    println!("cargo:rerun-if-env-changed=PURSER_CONSOLE_DIST");
    println!("cargo:rerun-if-env-changed=PURSER_CONSOLE_REQUIRED");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let required = env::var("PURSER_CONSOLE_REQUIRED").is_ok_and(|v| v == "1");
    let built = match env::var_os("PURSER_CONSOLE_DIST") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            println!("cargo:rerun-if-changed={}", dir.display());
            Ok(dir)
        }
        None => {
            let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console");
            for source in SOURCES {
                println!("cargo:rerun-if-changed={}", console.join(source).display());
            }
            build(&console, &out.join("console"))
        }
    };
    let files = built
        .and_then(|dir| {
            let files = collect(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
            if !files.iter().any(|f| f.path == "/index.html") {
                return Err(format!("{} has no index.html", dir.display()));
            }
            Ok(files)
        })
        .map_or_else(|e| fail(required, &e), Some);
    fs::write(out.join("console.rs"), generate(files.as_deref().unwrap_or_default())).expect("write console.rs");
}

/// Without a console the build goes on (the binary says how to get one), unless required.
fn fail(required: bool, why: &str) -> Option<Vec<File>> {
    if required {
        panic!("the console could not be built and PURSER_CONSOLE_REQUIRED=1: {why}");
    }
    println!("cargo:warning=building without the console: {why}");
    None
}

/// `npm ci` when the lockfile changed since the last install, then the Vite build into `dist`.
fn build(console: &Path, dist: &Path) -> Result<PathBuf, String> {
    let lock = fs::read(console.join("package-lock.json")).map_err(|e| format!("console/package-lock.json: {e}"))?;
    let stamp = console.join("node_modules/.purser-installed-lock");
    if fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(console))?;
        fs::write(&stamp, &lock).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    run(Command::new("npm").args(["run", "--silent", "bundle"]).env("PURSER_CONSOLE_OUT", dist).current_dir(console))?;
    Ok(dist.to_owned())
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| format!("{shown}: {e} (is npm installed?)"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{shown} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

struct File {
    /// The URL path: `/index.html`, `/assets/index-3f2a.js`.
    path: String,
    disk: PathBuf,
    gzip: Option<PathBuf>,
    brotli: Option<PathBuf>,
    etag: String,
}

/// Every file under `dir` but the `.gz` and `.br` variants, which go with their original.
fn collect(dir: &Path) -> std::io::Result<Vec<File>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at)? {
            let entry = entry?;
            let disk = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(disk);
                continue;
            }
            let name = disk.to_string_lossy();
            if name.ends_with(".gz") || name.ends_with(".br") {
                continue;
            }
            let relative = disk.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
            let variant = |ext: &str| Some(PathBuf::from(format!("{name}.{ext}"))).filter(|p| p.is_file());
            files.push(File {
                path: format!("/{relative}"),
                gzip: variant("gz"),
                brotli: variant("br"),
                etag: format!("\"{:016x}\"", fnv1a(&fs::read(&disk)?)),
                disk,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A content hash for ETags (stable, and plenty for telling builds apart).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn generate(files: &[File]) -> String {
    let mut code = String::from("// Generated by build.rs: the console's files, sorted by path.\n");
    let _ = writeln!(code, "pub static FILES: &[Asset] = &[");
    for file in files {
        let bytes = |p: &Option<PathBuf>| {
            p.as_ref().map_or_else(|| "None".to_owned(), |p| format!("Some(include_bytes!({:?}))", p.display()))
        };
        let _ = writeln!(
            code,
            "    Asset {{ path: {:?}, body: include_bytes!({:?}), gzip: {}, brotli: {}, etag: {:?} }},",
            file.path,
            file.disk.display().to_string(),
            bytes(&file.gzip),
            bytes(&file.brotli),
            file.etag,
        );
    }
    code.push_str("];\n");
    code
}
