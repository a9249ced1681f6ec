from django.core.management.base import BaseCommand

from evaluations.bulk_export import stale_after, sweep_stale_items, sweep_stale_packing


class Command(BaseCommand):
    help = (
        "把工作进程中断后卡在“生成中”的批量导出项和卡在“打包中”的导出重新排队（可由 cron 定时运行）"
    )

    def handle(self, **options) -> None:
        items = sweep_stale_items()
        packing = sweep_stale_packing()
        self.stdout.write(
            f"已处理超过 {int(stale_after().total_seconds())} 秒无进展的 {items} 个生成中的导出项、"
            f"{packing} 个打包中的导出。"
        )
