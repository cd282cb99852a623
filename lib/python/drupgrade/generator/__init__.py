"""The upgrade generator (design §4.8.3.1, `bin/upgrade.sh generate`): two packages of a product
in, a draft of the new version's upgrade data out.

- source:  open a package (a tarball as built, or an unpacked directory) read-only and name its
           product and version;
- analyze: what changed between the two versions, as one plain dict (its shape: analyze's docstring);
- draft:   the templates selected and filled from it, written into the output directory with
           GENERATED.md and every point a person must decide marked TODO;
- checks:  the generated state checks of the new version (their own module).

Product-specific hints are data: products/<name>/generator.json (schemas/generator.json)."""
