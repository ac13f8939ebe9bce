"""NFV-A, the agents' reverse auction (Chapter 3 of `003_…`), in parts: the initiator's role
(`initiator`; the wait for its winner in `winners`; what it makes of bids and awards in
`appraisal`), the participant's (`participant`; its proposals' holds in `holds`; the goals
it won in `work`), and what both share: the inbox subjects, the settings, the message
codec, the records, the agent's hooks and the endpoint that sends and admits.
`secmas.agents.auction.Mailbox` composes them."""
