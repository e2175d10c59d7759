//! `slipway completions SHELL`: the shell's completion script for every
//! subcommand and option, generated from the same definitions as `--help`.

use clap::CommandFactory;
use clap_complete::Shell as Generator;

use super::{Cli, exit};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `clap_complete` writes for, each with a line of help (clap's own
/// enum has none, and every choice of every argument is described).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    /// Bash: `source <(slipway completions bash)`.
    Bash,
    /// Zsh: save as `_slipway` in a folder on `$fpath`.
    Zsh,
    /// Fish: save as `~/.config/fish/completions/slipway.fish`.
    Fish,
    /// Elvish: `eval (slipway completions elvish | slurp)`.
    Elvish,
    /// PowerShell: `slipway completions powershell | Out-String | Invoke-Expression`.
    Powershell,
}

pub fn run(args: Args) -> i32 {
    let shell = match args.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
        Shell::Elvish => Generator::Elvish,
        Shell::Powershell => Generator::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "slipway", &mut out);
    // A reader that went away (`| head`) is no error.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), &out);
    exit::OK
}
