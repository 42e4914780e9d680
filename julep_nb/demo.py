"""A short terminal demo against the embedded local server: ``python -m julep_nb.demo``.

It defines a task with a human-in-the-loop pause, runs it, prints each state the live
watcher delivers, answers the pause, and prints the output. No account, no network.
"""

from __future__ import annotations

import asyncio

TASK_YAML = """
name: greet-and-approve
description: Builds a greeting, asks a human to approve it, then finishes.
input_schema:
  type: object
  properties:
    name: {type: string}
  required: [name]
main:
  - evaluate:
      greeting: $ f"Hello, {inputs[0]['name']}!"
  - wait_for_input:
      info:
        message: $ "Approve this greeting? " + _['greeting']
  - evaluate:
      approved: $ _['approved']
      greeting: $ outputs[0]['greeting']
"""


async def main() -> None:
    import julep_nb

    async with julep_nb.Client() as client:
        agent = await client.create_agent(name="demo")
        print(f"server: {client.base_url} (embedded local server, offline)")
        task = await client.create_task(agent.id, TASK_YAML)
        print(f"task:   {task.id} ({task.name})")
        handle = await julep_nb.run(task.id, {"name": "Ada"}, client=client)
        print(f"execution: {handle.id}")
        seen: set[str] = set()

        def show(state: julep_nb.ExecutionState) -> None:
            for row in state.timeline():
                if row.transition.id not in seen:
                    seen.add(row.transition.id)
                    print(
                        f"  {row.transition.type.value:<13} {row.label:<10} "
                        f"{row.duration * 1000:7.1f} ms"
                    )

        async for state in handle.updates():
            show(state)
            if state.waiting_info is not None:
                print(f"  waiting: {state.waiting_info['message']!r} -> answering yes")
                await handle.resume({"approved": True})
                break
        final = await handle
        show(final)
        print(f"status: {final.status.value}")
        print(f"output: {final.output}")


if __name__ == "__main__":
    asyncio.run(main())
