//! `cargo xtask bench fleet`: `converge` of `/bin/true` on 20 and 100 hosts,
//! over the local transport and over SSH to a loopback fleet of real sshd
//! instances, beside `ansible-playbook` (ansible-core from PyPI, in a venv in
//! the bench's temp folder) doing the same over the same connections with
//! `-f` equal to Slipway's concurrency. Target: Slipway at most a tenth of
//! Ansible's wall time. `--quick` for 20 hosts only; `--bin PATH` to time another build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::{median_of, ms};

#[path = "../../tests/it/fleet_harness.rs"]
pub(crate) mod fleet_harness;

use fleet_harness::Fleet;

/// Hosts converged at once, by both tools.
const CONCURRENCY: usize = 20;

pub fn fleet(args: &[&str]) -> Result<()> {
    let quick = args.contains(&"--quick");
    let bin = crate::slipway_bin(args)?;
    if let Some(why) = Fleet::unavailable() {
        bail!("{why}");
    }
    let tmp = std::env::temp_dir().join("slipway-bench-fleet");
    std::fs::create_dir_all(&tmp)?;
    let ansible = install_ansible(&tmp);
    if let Err(e) = &ansible {
        println!("ansible-playbook is not available ({e:#}): Slipway's times only");
    }
    let warm_rounds = if quick { 3 } else { 5 };
    println!("## converge of /bin/true, {CONCURRENCY} hosts at a time; wall time of the whole command");
    println!("(ssh: cold = no master connection yet; warm = median of {warm_rounds} runs reusing them)\n");
    println!(
        "{:<6} {:<10} {:>14} {:>14} {:>16} {:>14} {:>10}",
        "hosts", "transport", "slipway cold", "slipway warm", "ansible command", "ansible raw", "ratio"
    );
    for n in if quick { vec![20] } else { vec![20, 100] } {
        let fleet = Fleet::start("h", n);
        let dir = tmp.join(format!("n{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        for transport in ["local", "ssh"] {
            let file = dir.join(format!("{transport}.yaml"));
            std::fs::write(&file, pipeline(&fleet, transport))?;
            let state = dir.join(format!("state-{transport}"));
            let cold = time(|| slipway(&bin, &file, &state))?;
            let mut warm: Vec<Duration> = (0..warm_rounds).map(|_| time(|| slipway(&bin, &file, &state))).collect::<Result<_>>()?;
            let warm = median_of(&mut warm);
            let (command, raw) = match &ansible {
                Ok(venv) => {
                    let inventory = dir.join(format!("{transport}.ini"));
                    std::fs::write(&inventory, inventory_text(&fleet, transport, venv))?;
                    let cp = dir.join(format!("cp-{transport}"));
                    let mut times = Vec::new();
                    for module in ["command", "raw"] {
                        let play = dir.join(format!("{module}.yml"));
                        std::fs::write(&play, playbook(module))?;
                        // A first run opens the connections (and is the cold figure); then warm runs.
                        time(|| ansible_run(venv, &inventory, &play, &cp))?;
                        let mut t: Vec<Duration> =
                            (0..warm_rounds.min(3)).map(|_| time(|| ansible_run(venv, &inventory, &play, &cp))).collect::<Result<_>>()?;
                        times.push(Some(median_of(&mut t)));
                    }
                    (times[0], times[1])
                }
                Err(_) => (None, None),
            };
            let show = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.0} ms", ms(d)));
            let ratio = command.map_or("-".to_owned(), |a| format!("1/{:.0}", a.as_secs_f64() / warm.as_secs_f64()));
            let cold_text = if transport == "local" { "-".to_owned() } else { show(Some(cold)) };
            println!("{n:<6} {transport:<10} {cold_text:>14} {:>14} {:>16} {:>14} {ratio:>10}", show(Some(warm)), show(command), show(raw));
        }
        drop(fleet);
    }
    println!(
        "\nratio: Slipway warm over ansible-playbook with the `command` module (the usual way to run a command); target 1/10 or better"
    );
    crate::bench_deploy::deploy(&bin, if quick { 3 } else { 6 })?;
    Ok(())
}

fn time(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

fn pipeline(fleet: &Fleet, transport: &str) -> String {
    let mut s = format!("version: 1\nname: bench-fleet-{transport}\n{}hosts:\n  all:\n", fleet.ssh_block());
    for h in &fleet.hosts {
        match transport {
            "local" => s.push_str(&format!("    - {{ name: {}, transport: local }}\n", h.name)),
            _ => s.push_str(&format!("    - {{ name: {}, address: 127.0.0.1, port: {} }}\n", h.name, h.port)),
        }
    }
    s.push_str(&format!(
        "stages:\n  converge:\n    kind: converge\n    hosts: all\n    concurrency: {CONCURRENCY}\n    command: /bin/true\n"
    ));
    s
}

fn slipway(bin: &Path, file: &Path, state: &Path) -> Result<()> {
    let out = Command::new(bin).arg("run").arg(file).arg("--state-dir").arg(state).env("NO_COLOR", "1").env("CI", "1").output()?;
    if !out.status.success() {
        bail!("slipway run failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// ansible-core in a venv under the bench's temp folder, installed once.
fn install_ansible(tmp: &Path) -> Result<PathBuf> {
    let venv = tmp.join("venv");
    if venv.join("bin/ansible-playbook").exists() {
        return Ok(venv);
    }
    let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().context("python3 -m venv")?.success()
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "ansible-core"])
            .stdout(Stdio::null())
            .status()
            .context("pip install ansible-core")?
            .success();
    if !ok || !venv.join("bin/ansible-playbook").exists() {
        bail!("pip could not install ansible-core");
    }
    Ok(venv)
}

fn inventory_text(fleet: &Fleet, transport: &str, venv: &Path) -> String {
    let python = venv.join("bin/python3");
    let mut s = String::from("[all]\n");
    for h in &fleet.hosts {
        match transport {
            "local" => s.push_str(&format!("{} ansible_connection=local ansible_python_interpreter={}\n", h.name, python.display())),
            _ => s.push_str(&format!(
                "{} ansible_host=127.0.0.1 ansible_port={} ansible_user=root ansible_ssh_private_key_file={} ansible_python_interpreter={} \
                 ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n",
                h.name,
                h.port,
                fleet.key.display(),
                python.display(),
                fleet.known_hosts.display()
            )),
        }
    }
    s
}

fn playbook(module: &str) -> String {
    format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - {module}: /bin/true\n")
}

fn ansible_run(venv: &Path, inventory: &Path, play: &Path, control_dir: &Path) -> Result<()> {
    let out = Command::new(venv.join("bin/ansible-playbook"))
        .arg("-i")
        .arg(inventory)
        .arg("-f")
        .arg(CONCURRENCY.to_string())
        .arg(play)
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", control_dir)
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", control_dir.join("tmp"))
        .output()?;
    if !out.status.success() {
        bail!("ansible-playbook failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
