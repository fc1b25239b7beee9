//! The krm-promote KRM function as a WebAssembly component.
//!
//! Glue only: converts the WIT types to and from [`krm_promote_core`] and
//! calls [`krm_promote_core::process`]. All logic lives in the core crate so
//! that it is unit-tested natively and behaves identically here.

#![allow(missing_docs, reason = "the exported API is generated from wit/ by wit-bindgen")]

wit_bindgen::generate!({
    path: "../wit",
    world: "krm-promote",
});

use exports::krm_promote::function::krm::{
    Context, Diagnostic, Error, File, Framing, Guest, Output, OutputFormat, PreparedKustomization, PreviewReport,
    RenderedEnvironment, ReportFormat, Severity,
};
use krm_promote_core as core;

struct Component;

fn core_context(context: Context) -> core::Context {
    core::Context {
        framing: match context.framing {
            Framing::ResourceList => core::Framing::ResourceList,
            Framing::YamlStream => core::Framing::Stream,
        },
        output: match context.output_format {
            OutputFormat::SameAsInput => core::OutputFormat::SameAsInput,
            OutputFormat::JsonLines => core::OutputFormat::JsonLines,
        },
        function_config: context.function_config,
        settings: context.settings.into_iter().map(|s| (s.key, s.value)).collect(),
        source_revision: context.source_revision,
        plugin_env: context.plugin_env.into_iter().map(|s| (s.key, s.value)).collect(),
        operator_settings: context
            .operator_settings
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect(),
    }
}

fn wit_error(e: core::Error) -> Error {
    match e {
        core::Error::InvalidInput(m) => Error::InvalidInput(m),
        core::Error::InvalidConfig(m) => Error::InvalidConfig(m),
    }
}

impl Guest for Component {
    fn process(input: String, context: Context) -> Result<Output, Error> {
        let out = core::process(&input, &core_context(context)).map_err(wit_error)?;
        Ok(Output {
            document: out.document,
            has_errors: out.has_errors,
            diagnostics: out
                .results
                .iter()
                .map(|r| Diagnostic {
                    severity: match r.severity {
                        core::Severity::Info => Severity::Info,
                        core::Severity::Warning => Severity::Warning,
                        core::Severity::Error => Severity::Error,
                    },
                    message: r.to_string(),
                })
                .collect(),
        })
    }

    fn parameters(context: Context) -> Result<String, Error> {
        core::parameters(&core_context(context)).map_err(wit_error)
    }

    fn prepare_kustomization(kustomization: String, files: Vec<File>) -> Result<PreparedKustomization, Error> {
        let files: Vec<(String, String)> = files.into_iter().map(|f| (f.name, f.content)).collect();
        let p = core::kustomize::prepare(&kustomization, &files).map_err(wit_error)?;
        Ok(PreparedKustomization {
            kustomization: p.kustomization,
            function_config: p.function_config,
        })
    }

    fn preview(environments: Vec<RenderedEnvironment>, format: ReportFormat) -> Result<PreviewReport, Error> {
        let envs: Vec<core::preview::Rendered> = environments
            .into_iter()
            .map(|e| core::preview::Rendered {
                path: e.path,
                base: e.base,
                head: e.head,
            })
            .collect();
        let format = match format {
            ReportFormat::Human => core::preview::Format::Human,
            ReportFormat::HumanColor => core::preview::Format::HumanColor,
            ReportFormat::Markdown => core::preview::Format::Markdown,
            ReportFormat::Json => core::preview::Format::Json,
        };
        let report = core::preview::preview(&envs, format).map_err(wit_error)?;
        Ok(PreviewReport {
            text: report.text,
            changed: report.changed,
        })
    }
}

export!(Component);
