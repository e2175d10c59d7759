//! GitHub Actions workflow commands: each diagnostic becomes an inline annotation
//! on the pull request's diff.

use super::range;
use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

pub fn github(file: &SourceFile, d: &Diagnostic) -> String {
    let (start, end) = range(file, d);
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{} file={},line={},col={},endLine={},endColumn={},title={}::{}",
        d.severity.as_str(),
        property(&file.path),
        start.line,
        start.column,
        end.line,
        end.column,
        property(&format!("slipway {}", d.code.as_str())),
        data(&message),
    )
}

fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code;
    use crate::source::Span;

    #[test]
    fn escapes_workflow_command_syntax() {
        let file = SourceFile::new("a,b.yaml", "x: 1\n");
        let d = Diagnostic::error(Code::UnknownField, Span::new(0, 1), "50% wrong\nline").with_help("fix: it");
        assert_eq!(
            github(&file, &d),
            "::error file=a%2Cb.yaml,line=1,col=1,endLine=1,endColumn=2,title=slipway unknown-field::50%25 wrong%0Aline%0Ahelp: fix: it"
        );
    }
}
