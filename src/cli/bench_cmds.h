/* cli/bench_cmds.h: the subcommands of `fk bench', one line each: name, the function suffix
   (implemented as fk_bench_<suffix> in bench_<suffix>.c), and a summary. Included twice by
   bench.h/bench.c with FK_BENCH_CMD defined; add a subcommand by adding a line here, its file,
   and the file in src/cli/meson.build. */
FK_BENCH_CMD ("report", report, "print a table per metric of an artifact: fk bench report FILE")
FK_BENCH_CMD ("trace-demo", trace_demo,
              "measure host fork+exec density, write an artifact and report it")
FK_BENCH_CMD ("shell-pool-density", shell_pool_density,
              "the reference's shell-pool density benchmark, with crun exec as the peer")
FK_BENCH_CMD ("agent-core", agent_core,
              "hot/cold create to first stdout, command start, batches, density, cleanup")
FK_BENCH_CMD ("sandbox", sandbox,
              "sandbox create/run/delete, exec and idle memory beside crun and bwrap")
FK_BENCH_CMD ("fkd", fkd, "the E2B SDK through fkd beside the same work through libfirkin")
