"""The report sections that show why a run failed, and the message diagram.

Each module registers one checker's section with `checker.sections.section` (the report finds
them by importing every module of `checker`, `checker.sections.discover`):

- `linearizability`: the failing key's operations on their own timeline, the longest
  linearizable prefix and the operation no linearization can place, in words too.
- `setfull`: each lost element, when and where it was acknowledged, during which fault, and
  which final reads lack it, on a table and a timeline.
- `elections`: a lane per node with its terms as leader, leaderless time, two-leader terms.
- `messages`: `message_diagram(ctx)`, the run's messages as Maelstrom's messages.svg, for a
  time window the reader picks (not a section: the report places it).

`draw` holds what they share: escaping (`markupsafe`, which jinja2 is built on: a `Markup`
string never escapes twice, and formatting one escapes every argument), the time axis, fault
bands, colours. Every section takes any result, of any validity, with fields missing or of
the wrong type, and shows what it can rather than raise.

Pure: they read the result and `SectionContext` (which may read the run directory's files);
no trio, no zmq, no processes.
"""
