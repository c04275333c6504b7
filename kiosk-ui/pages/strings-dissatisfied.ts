/**
 * Strings of the dashboard's 差评 loop (`dashboard-dissatisfied.ts`): the steps added in
 * revision 2, 督办, the complex mark and the second rating (part of the one catalogue, see i18n.ts).
 */
export const DISSATISFIED_STRINGS = {
  disStepResolvedOnTheSpot: ['当场裁定', 'Resolved on the spot'],
  disStepHandedOver: ['转12345', 'Handed over to 12345'],
  disStepRectified: ['已整改', 'Rectified'],
  disStepFeedbackGiven: ['已反馈', 'Outcome told'],
  disStepEscalated: ['督办', 'Escalated'],
  disStepReRated: ['群众再次评价', 'Rated again'],
  disStepByHub: ['（系统）', ' (hub)'],
  disEscalatedBadge: ['已督办 {n} 次', 'Escalated {n}×'],
  disMarkComplex: ['复杂事项（10个工作日）', 'Complex matter (10 working days)'],
  disReRateLabel: ['群众再次评价（电话回访）', 'Second rating (told on the phone)'],
  disReRate: ['记录再次评价', 'Record the second rating'],
  disReRateSaved: ['已记录再次评价：{level}', 'Second rating recorded: {level}'],
  disClosedReRated: ['✓ 已再次评价，闭环', '✓ Rated again: closed'],
} as const;
