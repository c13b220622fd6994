-- CreateIndex
CREATE INDEX "Event_action_target_id_idx" ON "Event"("action", "target", "id");
